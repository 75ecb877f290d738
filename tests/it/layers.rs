//! Answers made by the layers in front of the handlers: security and CORS headers on every response, server-function errors the browser can decode.

use crate::common::http::client;
use crate::common::{hung_database_state, serve, TestEnv};
use leptos::server_fn::error::FromServerFnError;
use mongodb::bson::oid::ObjectId;
use paisa::error::AppError;
use reqwest::{RequestBuilder, Response, StatusCode};
use std::time::{Duration, Instant};

const ORIGIN: &str = "https://pay.example.com";

/// What the browser makes of a server function's error answer: the same
/// decoding the WASM client runs.
async fn decoded(res: Response) -> AppError {
    AppError::de(res.bytes().await.unwrap())
}

fn with_session(req: RequestBuilder, user: ObjectId, env_tokens: &paisa::server::tokens::Tokens) -> RequestBuilder {
    req.header("cookie", format!("paisa_session={}", env_tokens.issue(user).unwrap()))
}

/// The headers every response carries, whichever layer made it.
fn assert_headers(res: &Response, what: &str) {
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
    assert!(h.contains_key("content-security-policy"), "{what}");
    assert!(h.contains_key("x-request-id"), "{what}");
    assert_eq!(h["access-control-allow-origin"], ORIGIN, "{what}");
}

#[tokio::test]
async fn a_hung_database_during_send_shows_the_busy_message() {
    let state = hung_database_state(Duration::from_millis(300)).await;
    let tokens = state.tokens.clone();
    let base = serve(state).await;
    let form = [
        ("to", ObjectId::new().to_hex()),
        ("amount", "1.50".to_owned()),
        ("idempotency_key", "k-1".to_owned()),
    ];
    let started = Instant::now();
    let req = client().post(format!("{base}/api/send_money")).form(&form);
    let res = with_session(req, ObjectId::new(), &tokens).send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error = decoded(res).await;
    assert_eq!(error, AppError::Unavailable);
    assert_eq!(error.to_string(), "The service is busy, try again");
}

#[tokio::test]
async fn refusals_made_before_a_server_function_decode_as_the_ui_error() {
    let env = TestEnv::new().await;
    let me = env.user("Asha", "Rao").await;
    let base = env.serve().await;
    let too_large = format!(
        "to={}&amount=1&idempotency_key=k&pad={}",
        ObjectId::new().to_hex(),
        "x".repeat(20_000)
    );
    let req = client()
        .post(format!("{base}/api/send_money"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(too_large);
    let res = with_session(req, me, &env.state.tokens).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error = decoded(res).await;
    assert!(matches!(error, AppError::Invalid { field: None, .. }), "{error:?}");
    assert_eq!(error.to_string(), "That is more than Paisa accepts in one request");

    let res = client()
        .post(format!("{base}/api/sign_in"))
        .header("origin", "https://elsewhere.example")
        .form(&[("username", "asha@example.com"), ("password", "whatever1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let error = decoded(res).await;
    assert_eq!(
        error.to_string(),
        "This request was refused; reload the page and try again"
    );

    // A server function's own refusal keeps its status and its message.
    let req = client().post(format!("{base}/api/send_money")).form(&[
        ("to", me.to_hex().as_str()),
        ("amount", "1"),
        ("idempotency_key", "k-2"),
    ]);
    let res = with_session(req, me, &env.state.tokens).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(decoded(res).await, AppError::InvalidAccount);
}

#[tokio::test]
async fn every_response_carries_the_security_and_cors_headers() {
    let mut env = TestEnv::new().await;
    env.state.cors_origins = vec![ORIGIN.to_owned()];
    let me = env.user("Asha", "Rao").await;
    let token = env.token(me);
    let base = env.serve().await;
    let http = client();

    let ok = http
        .get(format!("{base}/api/v1/account/balance"))
        .bearer_auth(&token)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_headers(&ok, "200 from a handler");

    // Refused by the body limit, before any handler.
    let big = format!(
        r#"{{"to":"{}","amount":1,"pad":"{}"}}"#,
        ObjectId::new().to_hex(),
        "x".repeat(20_000)
    );
    let res = http
        .post(format!("{base}/api/v1/account/transfer"))
        .bearer_auth(&token)
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_headers(&res, "413 from the body limit");

    // Answered by the time limit, the handler still waiting on the database.
    let mut state = hung_database_state(Duration::from_millis(300)).await;
    state.cors_origins = vec![ORIGIN.to_owned()];
    let token = state.tokens.issue(ObjectId::new()).unwrap();
    let hung = serve(state).await;
    let res = http
        .get(format!("{hung}/api/v1/account/balance"))
        .bearer_auth(&token)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_headers(&res, "503 from the time limit");
}

#[tokio::test]
async fn an_authorization_header_of_another_scheme_leaves_the_cookie_in_force() {
    let env = TestEnv::new().await;
    let me = env.user("Asha", "Rao").await;
    let base = env.serve().await;
    let balance = |auth: &'static str| {
        let req = client()
            .get(format!("{base}/api/v1/account/balance"))
            .header("authorization", auth);
        with_session(req, me, &env.state.tokens).send()
    };
    assert_eq!(
        balance("Basic YXNoYTpzZWNyZXQ=").await.unwrap().status(),
        StatusCode::OK
    );
    // A Bearer token is what the caller chose: a bad one is not rescued.
    assert_eq!(
        balance("Bearer not-a-token").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}
