//! Sessions you control: a token names a server-side session, which
//! sign-out, sign-out everywhere, "End" and a password change end on every
//! instance within a second.

use crate::common::http::{status_and_body, Api};
use crate::common::{serve, TestEnv, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn status(api: &Api, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    status_and_body(api.call(method, path, Some(token), body).await).await
}

/// The status of `GET /account/balance` at `base` with `token`.
async fn balance_status(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/account/balance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Asks `check` every `every` until it answers, for up to `limit` (at
/// least once); its answer, or none.
async fn poll<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(answer) = check().await {
            return Some(answer);
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Polls `GET /account/balance` at `base` until it answers 403; how long
/// that took, or none within `limit`.
async fn dead_within(base: &str, token: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    poll(limit, Duration::from_millis(25), || async {
        (balance_status(base, token).await == StatusCode::FORBIDDEN).then(|| started.elapsed())
    })
    .await
}

#[tokio::test]
async fn signing_out_ends_that_session_only() {
    let env = TestEnv::new().await;
    let api = Api::new(&env).await;
    let me = env.user("Asha", "Rao").await;
    let (phone, laptop) = (env.token(me).await, env.token(me).await);
    assert_eq!(api.balance(&phone).await, api.balance(&laptop).await);
    let (code, body) = status(&api, Method::POST, "/user/signout", &phone, None).await;
    assert_eq!((code, body), (StatusCode::OK, json!({"message": "Signed out"})));
    let (code, body) = status(&api, Method::GET, "/account/balance", &phone, None).await;
    assert_eq!((code, body), (StatusCode::FORBIDDEN, json!({})));
    // The other device is still signed in.
    api.balance(&laptop).await;
    // Signing out twice is "not signed in".
    assert_eq!(
        status(&api, Method::POST, "/user/signout", &phone, None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let env = TestEnv::new().await;
    let api = Api::new(&env).await;
    let (me, other) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    let (phone, laptop, theirs) = (env.token(me).await, env.token(me).await, env.token(other).await);
    let (code, body) = status(&api, Method::POST, "/user/signout-all", &laptop, None).await;
    assert_eq!(
        (code, body),
        (StatusCode::OK, json!({"message": "Signed out everywhere"}))
    );
    for token in [&phone, &laptop] {
        assert_eq!(
            status(&api, Method::GET, "/account/balance", token, None).await.0,
            StatusCode::FORBIDDEN
        );
    }
    // Someone else's sessions are theirs.
    api.balance(&theirs).await;
}

#[tokio::test]
async fn sessions_are_listed_and_ended_by_their_owner_only() {
    let env = TestEnv::new().await;
    let api = Api::new(&env).await;
    let (me, other) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    let (phone, laptop, theirs) = (env.token(me).await, env.token(me).await, env.token(other).await);
    let (code, body) = status(&api, Method::GET, "/user/sessions", &phone, None).await;
    assert_eq!(code, StatusCode::OK);
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for s in sessions {
        assert!(s["createdAt"].as_str().unwrap().ends_with('Z'));
        assert!(s["lastSeenAt"].as_str().is_some() && s["userAgent"].is_string());
    }
    let laptop_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another user cannot end it, nor learn that it exists.
    let (code, body) = status(
        &api,
        Method::DELETE,
        &format!("/user/sessions/{laptop_id}"),
        &theirs,
        None,
    )
    .await;
    assert_eq!(
        (code, body),
        (StatusCode::NOT_FOUND, json!({"message": "No such session"}))
    );
    let (code, _) = status(&api, Method::DELETE, "/user/sessions/not-an-id", &phone, None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    api.balance(&laptop).await;
    // Its owner can.
    let (code, body) = status(
        &api,
        Method::DELETE,
        &format!("/user/sessions/{laptop_id}"),
        &phone,
        None,
    )
    .await;
    assert_eq!((code, body), (StatusCode::OK, json!({"message": "Signed out"})));
    assert_eq!(
        status(&api, Method::GET, "/account/balance", &laptop, None).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, body) = status(&api, Method::GET, "/user/sessions", &phone, None).await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let env = TestEnv::new().await;
    let api = Api::new(&env).await;
    let me = env.user("Asha", "Rao").await;
    let (here, elsewhere) = (env.token(me).await, env.token(me).await);
    let refused = (
        StatusCode::LENGTH_REQUIRED,
        json!({"message": "Error while updating information"}),
    );
    let before = crate::common::db::find(&env.db, "users", mongodb::bson::doc! { "_id": me })
        .await
        .unwrap();
    for body in [
        json!({"password": "a whole new passphrase"}),
        json!({"password": "a whole new passphrase", "currentPassword": "not the password"}),
        json!({"password": "a whole new passphrase", "currentPassword": ""}),
    ] {
        assert_eq!(
            status(&api, Method::PUT, "/user", &here, Some(body.clone())).await,
            refused,
            "{body}"
        );
    }
    let after = crate::common::db::find(&env.db, "users", mongodb::bson::doc! { "_id": me })
        .await
        .unwrap();
    assert_eq!(before, after, "a refused change changed the user");
    api.balance(&elsewhere).await;

    let body = json!({"password": "a whole new passphrase", "currentPassword": PASSWORD});
    let (code, _) = status(&api, Method::PUT, "/user", &here, Some(body)).await;
    assert_eq!(code, StatusCode::OK);
    // This session stays; every other one is over.
    api.balance(&here).await;
    assert_eq!(
        status(&api, Method::GET, "/account/balance", &elsewhere, None).await.0,
        StatusCode::FORBIDDEN
    );
    // A name change alone needs no password.
    let (code, _) = status(
        &api,
        Method::PUT,
        "/user",
        &here,
        Some(json!({"firstName": "Asha Devi"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn an_ended_session_is_refused_by_another_instance_within_a_second() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    // A second instance: its own session cache and change stream.
    let other = env.other_instance_state();
    let b = serve(other).await;
    let me = env.user("Asha", "Rao").await;
    let http = reqwest::Client::new();
    for (how, path) in [
        ("sign-out", "/api/v1/user/signout"),
        ("sign-out everywhere", "/api/v1/user/signout-all"),
    ] {
        let token = env.token(me).await;
        // B has seen (and cached) the session.
        assert_eq!(balance_status(&b, &token).await, StatusCode::OK);
        let ended = http
            .post(format!("{a}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(ended.status(), StatusCode::OK);
        let took = dead_within(&b, &token, Duration::from_secs(1)).await;
        assert!(took.is_some(), "{how} through A not seen by B within 1 s");
        println!("{how}: refused by B after {took:?}");
    }
    // A password change through A ends B's other sessions too.
    let (here, elsewhere) = (env.token(me).await, env.token(me).await);
    assert_eq!(balance_status(&b, &elsewhere).await, StatusCode::OK);
    let changed = http
        .put(format!("{a}/api/v1/user"))
        .bearer_auth(&here)
        .json(&json!({"password": "a whole new passphrase", "currentPassword": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(dead_within(&b, &elsewhere, Duration::from_secs(1)).await.is_some());
}

/// A user with one session: its token and id.
async fn a_session(env: &TestEnv) -> (String, mongodb::bson::oid::ObjectId) {
    use mongodb::bson::{doc, Document};
    let me = env.user("Asha", "Rao").await;
    let token = env.token(me).await;
    let sessions = env.db.collection::<Document>("sessions");
    let session = sessions.find_one(doc! { "userId": me }).await.unwrap().unwrap();
    (token, session.get_object_id("_id").unwrap())
}

/// Makes the session's own document say it was last seen `ago`; that time.
async fn set_seen(env: &TestEnv, session: mongodb::bson::oid::ObjectId, ago: Duration) -> mongodb::bson::DateTime {
    use mongodb::bson::{doc, DateTime, Document};
    let then = DateTime::from_millis(DateTime::now().timestamp_millis() - ago.as_millis() as i64);
    env.db
        .collection::<Document>("sessions")
        .update_one(doc! { "_id": session }, doc! { "$set": { "lastSeenAt": then } })
        .await
        .unwrap();
    then
}

/// The session's own `lastSeenAt`, once it is later than `then` (polled
/// for up to `limit`).
async fn stored_after(
    env: &TestEnv,
    session: mongodb::bson::oid::ObjectId,
    then: mongodb::bson::DateTime,
    limit: Duration,
) -> Option<mongodb::bson::DateTime> {
    use mongodb::bson::{doc, Document};
    poll(limit, Duration::from_millis(100), || async {
        let found = env
            .db
            .collection::<Document>("sessions")
            .find_one(doc! { "_id": session })
            .await
            .unwrap()
            .unwrap();
        let seen = *found.get_datetime("lastSeenAt").unwrap();
        (seen > then).then_some(seen)
    })
    .await
}

#[tokio::test]
async fn last_seen_is_listed_to_the_minute_without_a_write_of_the_session() {
    use mongodb::bson::DateTime;
    let env = TestEnv::new().await;
    let api = Api::new(&env).await;
    // Opened before the other instance starts, so that one reads it (with
    // the time set below) at its first request.
    let (token, session) = a_session(&env).await;
    let other = serve(env.other_instance_state()).await;
    // Idle for hours, as far as its own document says.
    let then = set_seen(&env, session, Duration::from_secs(3 * 3600)).await;
    assert_eq!(balance_status(&other, &token).await, StatusCode::OK);
    let asked = DateTime::now().timestamp_millis();
    // The list (on the first instance) says so within seconds.
    let listed = poll(Duration::from_secs(7), Duration::from_millis(100), || async {
        let (code, body) = status(&api, Method::GET, "/user/sessions", &token, None).await;
        assert_eq!(code, StatusCode::OK);
        let listed = body["sessions"][0]["lastSeenAt"].as_str().unwrap().to_owned();
        let listed = DateTime::parse_rfc3339_str(&listed).unwrap().timestamp_millis();
        (listed > then.timestamp_millis() + 1_000).then_some(listed)
    })
    .await;
    let listed = listed.expect("last seen not listed within 7 s");
    assert!(listed >= asked - 1_000, "listed {listed}, asked at {asked}");
    // Only the log has it: the session's own document is written once the
    // visit ends (ten minutes idle), not per request.
    assert_eq!(stored_after(&env, session, then, Duration::from_secs(1)).await, None);
}

/// A request to an instance that folds "last seen" after `idle` and every
/// `active`: the session's own `lastSeenAt` is that request's time within
/// seconds.
async fn folded_within_seconds(idle: Duration, active: Duration) {
    let env = TestEnv::new().await;
    let (token, session) = a_session(&env).await;
    let other = env.other_instance_state_with(|state| {
        state.sessions = state.sessions.clone().folding_last_seen_after(idle, active);
    });
    let other = serve(other).await;
    let then = set_seen(&env, session, Duration::from_secs(3 * 3600)).await;
    assert_eq!(balance_status(&other, &token).await, StatusCode::OK);
    let asked = mongodb::bson::DateTime::now().timestamp_millis();
    let seen = stored_after(&env, session, then, Duration::from_secs(12)).await;
    let seen = seen.expect("last seen not written into the session within 12 s");
    assert!(seen.timestamp_millis() >= asked - 1_000);
}

#[tokio::test]
async fn a_session_gone_idle_has_its_last_seen_written_into_it() {
    folded_within_seconds(Duration::from_secs(1), Duration::from_secs(3600)).await;
}

#[tokio::test]
async fn a_session_seen_all_along_has_its_last_seen_written_into_it_now_and_then() {
    folded_within_seconds(Duration::from_secs(3600), Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_stopping_instance_writes_the_last_seen_it_owes() {
    let env = TestEnv::new().await;
    let (token, session) = a_session(&env).await;
    let other = env.other_instance_state();
    let base = serve(other.clone()).await;
    let then = set_seen(&env, session, Duration::from_secs(3 * 3600)).await;
    assert_eq!(balance_status(&base, &token).await, StatusCode::OK);
    let asked = mongodb::bson::DateTime::now().timestamp_millis();
    // Noted, logged at most, not written into the session: the visit has
    // not ended.
    assert_eq!(
        stored_after(&env, session, then, Duration::from_millis(500)).await,
        None
    );
    other.sessions.store_last_seen_now().await;
    let seen = stored_after(&env, session, then, Duration::from_millis(100)).await;
    let seen = seen.expect("last seen not written by the stop");
    assert!(seen.timestamp_millis() >= asked - 1_000);
}

/// A sign-in whose password check began before a password change opens no
/// session, whichever way its steps and the change's interleave: the
/// session stored after the change's "end all" is refused and ended.
#[tokio::test]
async fn a_sign_in_checked_before_a_password_change_opens_no_session() {
    use paisa::server::auth::sessions::Device;
    use paisa::server::bank::ProfileUpdate;
    let env = TestEnv::new().await;
    let asha = env.user("Asha", "Rao").await;
    let username = env.bank().me(asha).await.unwrap().username;
    let verified = env.bank().verify_credentials(&username, PASSWORD).await.unwrap();
    let change = ProfileUpdate {
        password: Some("a new passphrase, long".into()),
        current_password: Some(PASSWORD.into()),
        ..Default::default()
    };
    env.bank().update_profile(asha, change).await.unwrap();
    env.state.sessions.end_all(asha, None).await.unwrap();
    let opened = paisa::server::auth::sign_in::open_verified(&env.state, &verified, &Device::default()).await;
    assert!(opened.is_err(), "a session opened on the old password");
    let live = env
        .state
        .sessions
        .list(asha, mongodb::bson::oid::ObjectId::new())
        .await
        .unwrap();
    assert!(live.is_empty(), "{live:?}");
}
