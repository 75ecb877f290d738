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

fn with_session(req: RequestBuilder, token: &str) -> RequestBuilder {
    req.header("cookie", format!("paisa_session={token}"))
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
    // A well-signed token: its session can only be checked in the database.
    let token = state.tokens.issue(ObjectId::new(), ObjectId::new()).unwrap();
    let base = serve(state).await;
    let form = [
        ("to", ObjectId::new().to_hex()),
        ("amount", "1.50".to_owned()),
        ("idempotency_key", "k-1".to_owned()),
    ];
    let started = Instant::now();
    let req = client().post(format!("{base}/api/send_money")).form(&form);
    let res = with_session(req, &token).send().await.unwrap();
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
    let token = env.token(me).await;
    let res = with_session(req, &token).send().await.unwrap();
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
    let res = with_session(req, &token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(decoded(res).await, AppError::InvalidAccount);
}

#[tokio::test]
async fn over_https_the_cookie_is_host_bound_and_browsers_are_told_to_stay() {
    let mut env = TestEnv::new().await;
    env.state.cookie_secure = true;
    let base = env.serve().await;
    let res = client()
        .post(format!("{base}/api/sign_in"))
        .form(&[("username", "nobody@example.com"), ("password", "whatever123")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let me = env.user("Asha", "Rao").await;
    let token = env.token(me).await;
    // Only the __Host- cookie is read.
    let plain = with_session(client().get(format!("{base}/api/v1/account/balance")), &token);
    assert_eq!(plain.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let host = client()
        .get(format!("{base}/api/v1/account/balance"))
        .header("cookie", format!("__Host-paisa_session={token}"));
    assert_eq!(host.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_the_security_and_cors_headers() {
    let mut env = TestEnv::new().await;
    env.state.cors_origins = vec![ORIGIN.to_owned()];
    let me = env.user("Asha", "Rao").await;
    let token = env.token(me).await;
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
    let token = state.tokens.issue(ObjectId::new(), ObjectId::new()).unwrap();
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
    let token = env.token(me).await;
    let balance = |auth: &'static str| {
        let req = client()
            .get(format!("{base}/api/v1/account/balance"))
            .header("authorization", auth);
        with_session(req, &token).send()
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

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let addr = base.trim_start_matches("http://");
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // The server closes the connection (with or without a 408) by itself.
    let closed = tokio::time::timeout(Duration::from_secs(15), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still open after 15 s");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_secs(12),
        "closed after {took:?}"
    );
    // Meanwhile the server serves everyone else.
    assert_eq!(
        client().get(format!("{base}/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cross_site_post_with_a_valid_cookie_moves_nothing() {
    let env = TestEnv::new().await;
    let (me, other) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    let before = crate::common::db::balances(&env.db).await;
    let base = env.serve().await;
    let token = env.token(me).await;
    let req = client()
        .post(format!("{base}/api/send_money"))
        .header("origin", "https://evil.example")
        .form(&[
            ("to", other.to_hex().as_str()),
            ("amount", "1"),
            ("idempotency_key", "k-x"),
        ]);
    let res = with_session(req, &token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(crate::common::db::balances(&env.db).await, before);
}

#[tokio::test]
async fn redirects_carry_the_security_headers_and_private_answers_are_not_stored() {
    let env = TestEnv::new().await;
    let me = env.user("Asha", "Rao").await;
    let base = env.serve().await;
    let redirect = client().get(format!("{base}/dashboard")).send().await.unwrap();
    assert!(redirect.status().is_redirection());
    let h = redirect.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let token = env.token(me).await;
    let page = with_session(client().get(format!("{base}/dashboard")), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let api = client()
        .get(format!("{base}/api/v1/account/balance"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    // Over plain HTTP, no HSTS.
    assert!(!api.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn a_transfer_is_shown_only_to_its_two_parties() {
    let env = TestEnv::new().await;
    let (a, b, c) = (
        env.user("Asha", "Rao").await,
        env.user("Ravi", "Kumar").await,
        env.user("Mira", "Nair").await,
    );
    let receipt = env
        .bank()
        .transfer(a, &b.to_hex(), paisa::money::Money::from_paise(100), None)
        .await
        .unwrap();
    let base = env.serve().await;
    for (who, status) in [(a, StatusCode::OK), (b, StatusCode::OK), (c, StatusCode::BAD_REQUEST)] {
        let token = env.token(who).await;
        let req = client()
            .post(format!("{base}/api/transfer"))
            .form(&[("id", receipt.transfer_id.as_str())]);
        let res = with_session(req, &token).send().await.unwrap();
        assert_eq!(res.status(), status);
        if status != StatusCode::OK {
            assert_eq!(decoded(res).await.to_string(), "No such transfer");
        }
    }
}
