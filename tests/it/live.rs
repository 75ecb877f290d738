//! Live updates (`/api/v1/events`): each new journal entry reaches its
//! holders' open streams on any instance, in the account's order, exactly
//! once, with the balance right after it; a reconnect gets what it missed.

use crate::common::db::{assert_books_balance, set_balance};
use crate::common::sse::{self, EventStream, SseEvent};
use crate::common::{serve, TestEnv};
use mongodb::bson::oid::ObjectId;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// Sends `rupees` through the API at `base`; the answer's body.
async fn send(base: &str, token: &str, to: ObjectId, rupees: f64) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/account/transfer"))
        .bearer_auth(token)
        .json(&json!({ "to": to.to_hex(), "amount": rupees }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn balance(base: &str, token: &str) -> f64 {
    let body: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/account/balance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["balance"].as_f64().unwrap()
}

async fn stream(base: &str, token: &str, last_event_id: Option<&str>) -> EventStream {
    sse::open(base, Some(token), last_event_id)
        .await
        .unwrap_or_else(|refused| panic!("the stream was refused: {refused:?}"))
}

fn ids(events: &[SseEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone().unwrap_or_default()).collect()
}

#[tokio::test]
async fn a_transfer_through_one_instance_reaches_streams_on_another_within_a_second() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    let b = serve(env.other_instance_state()).await;
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);
    let mut ravi_on_b = stream(&b, &ravi_token, None).await;
    let mut asha_on_b = stream(&b, &asha_token, None).await;

    let started = Instant::now();
    let receipt = send(&a, &asha_token, ravi, 1.5).await;
    let received = ravi_on_b.next(SECOND).await.expect("Ravi hears of it within a second");
    println!("delivered {:?} after the transfer began", started.elapsed());
    assert_eq!(received.event, "transfer");
    assert_eq!(received.id.as_deref(), receipt["transferId"].as_str());
    let data = &received.data;
    assert_eq!(data["id"], receipt["transferId"]);
    assert_eq!(data["kind"], "transfer");
    assert_eq!(data["direction"], "received");
    assert_eq!(data["amount"], 1.5);
    assert_eq!(data["counterparty"]["firstName"], "Asha");
    assert_eq!(data["counterparty"]["lastName"], "Rao");
    assert!(data["counterparty"]["hint"].as_str().unwrap().ends_with("@example.com"));
    assert!(data["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(data["balance"].as_f64().unwrap(), balance(&a, &ravi_token).await);

    let sent = asha_on_b.next(SECOND).await.expect("Asha's other tab hears of it");
    assert_eq!(sent.id, received.id);
    assert_eq!(sent.data["direction"], "sent");
    assert_eq!(sent.data["counterparty"]["firstName"], "Ravi");
    assert_eq!(sent.data["balance"], receipt["balance"]);
    assert_eq!(sent.data["balance"], 98.5);
    // Nothing else: one entry, one event per holder.
    assert!(ravi_on_b.next(Duration::from_millis(300)).await.is_none());
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_gets_exactly_what_it_missed() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    let b = serve(env.other_instance_state()).await;
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    set_balance(&env.db, ravi, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);

    let mut ravi_stream = stream(&b, &ravi_token, None).await;
    send(&a, &asha_token, ravi, 1.0).await;
    let first = ravi_stream.next(SECOND).await.expect("the first transfer");
    drop(ravi_stream);
    // Away: two received, one sent, through both instances.
    let missed = [
        send(&a, &asha_token, ravi, 2.0).await,
        send(&b, &ravi_token, asha, 0.5).await,
        send(&b, &asha_token, ravi, 3.0).await,
    ];
    let missed_ids: Vec<String> = missed
        .iter()
        .map(|r| r["transferId"].as_str().unwrap().to_owned())
        .collect();

    for (how, mut again) in [
        ("header", stream(&a, &ravi_token, first.id.as_deref()).await),
        // The query parameter is for a browser's new EventSource.
        (
            "query",
            stream_with_query(&b, &ravi_token, first.id.as_deref().unwrap()).await,
        ),
    ] {
        let replayed = again.take(3, SECOND).await;
        assert_eq!(ids(&replayed), missed_ids, "replayed by {how}");
        let balances: Vec<f64> = replayed.iter().map(|e| e.data["balance"].as_f64().unwrap()).collect();
        assert_eq!(balances, [103.0, 102.5, 105.5], "each with the balance right after it");
        assert!(
            again.next(Duration::from_millis(300)).await.is_none(),
            "nothing twice ({how})"
        );
    }

    // Then live entries, with no duplicate of what was replayed.
    let mut again = stream(&b, &ravi_token, first.id.as_deref()).await;
    assert_eq!(ids(&again.take(3, SECOND).await), missed_ids);
    let live = send(&a, &asha_token, ravi, 4.0).await;
    let next = again.next(SECOND).await.expect("the live transfer");
    assert_eq!(next.id.as_deref(), live["transferId"].as_str());
    assert_eq!(next.data["balance"], 109.5);
    assert!(again.next(Duration::from_millis(300)).await.is_none());

    // An id that is not the user's own is ignored: live entries only.
    let mut stranger = stream(&a, &ravi_token, Some(&ObjectId::new().to_hex())).await;
    assert!(stranger.next(Duration::from_millis(300)).await.is_none());
    assert_books_balance(&env.db).await;
}

async fn stream_with_query(base: &str, token: &str, last_event_id: &str) -> EventStream {
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/events?lastEventId={last_event_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    sse::from_response(response)
}

#[tokio::test]
async fn concurrent_transfers_arrive_once_each_in_order_with_each_balance() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    let b = serve(env.other_instance_state()).await;
    let senders = env.users((0..4).map(|i| (format!("Sender{i}"), "Shah"))).await;
    let ravi = env.user("Ravi", "Kumar").await;
    let mut tokens = Vec::new();
    for &s in &senders {
        set_balance(&env.db, s, 100_000).await;
        tokens.push(env.token(s).await);
    }
    let ravi_token = env.token(ravi).await;
    let start = balance(&a, &ravi_token).await;
    let mut ravi_stream = stream(&b, &ravi_token, None).await;

    // 4 senders × 5 transfers at once, through both instances.
    let sends = tokens.iter().enumerate().map(|(i, token)| {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            for n in 1..=5 {
                send(&base, token, ravi, f64::from(n)).await;
            }
        }
    });
    futures::future::join_all(sends).await;
    let events = ravi_stream.take(20, Duration::from_secs(2)).await;
    let mut expected = start;
    for event in &events {
        expected += event.data["amount"].as_f64().unwrap();
        let after = event.data["balance"].as_f64().unwrap();
        assert!(
            (after - expected).abs() < 1e-9,
            "balance {after} after {event:?}, expected {expected}"
        );
    }
    // The last event's balance is the account's. (Read until it shows: a
    // read on another connection right after the commits has once been
    // seen to return an older balance, in about 1 run in 35.)
    let deadline = Instant::now() + SECOND;
    let mut held = balance(&a, &ravi_token).await;
    while held != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        held = balance(&a, &ravi_token).await;
    }
    assert_eq!(expected, held);
    let mut unique = ids(&events);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    assert!(ravi_stream.next(Duration::from_millis(300)).await.is_none());
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn streams_refuse_the_signed_out_and_end_with_their_session() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    let b = serve(env.other_instance_state()).await;
    let asha = env.user("Asha", "Rao").await;
    let token = env.token(asha).await;
    let mut on_b = stream(&b, &token, None).await;
    let mut on_a = stream(&a, &token, None).await;
    let ended = reqwest::Client::new()
        .post(format!("{a}/api/v1/user/signout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    assert!(
        on_a.ends_within(SECOND).await,
        "the signing-out instance ends its stream"
    );
    assert!(
        on_b.ends_within(SECOND).await,
        "another instance ends its stream within a second"
    );
    let refused = sse::open(&b, Some(&token), None).await.err().expect("refused");
    assert_eq!(refused.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_user_has_at_most_eight_streams_and_shutdown_ends_them() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    let asha = env.user("Asha", "Rao").await;
    let token = env.token(asha).await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(stream(&a, &token, None).await);
    }
    let (status, body) = sse::open(&a, Some(&token), None)
        .await
        .err()
        .expect("a ninth is refused");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body["message"].as_str().unwrap().contains("at most 8"), "{body}");
    drop(open.pop());
    // The server notices the closed connection when it next writes to it,
    // at the latest with the keep-alive; a freed place is usable then.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ninth = loop {
        match sse::open(&a, Some(&token), None).await {
            Ok(stream) => break stream,
            Err((StatusCode::TOO_MANY_REQUESTS, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(refused) => panic!("a freed place is not reusable: {refused:?}"),
        }
    };
    open.push(ninth);
    env.state.live.close();
    for stream in &mut open {
        assert!(stream.ends_within(SECOND).await, "shutdown ends every stream");
    }
    let (status, _) = sse::open(&a, Some(&token), None)
        .await
        .err()
        .expect("refused while closing");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn requests_reach_both_parties_live_as_they_change() {
    let env = TestEnv::new().await;
    let a = env.serve().await;
    let b = serve(env.other_instance_state()).await;
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);
    let mut asha_on_b = stream(&b, &asha_token, None).await;
    let mut ravi_on_a = stream(&a, &ravi_token, None).await;
    let http = reqwest::Client::new();
    let asked: Value = http
        .post(format!("{a}/api/v1/requests"))
        .bearer_auth(&ravi_token)
        .json(&json!({ "from": asha.to_hex(), "amount": 2.5, "note": "Chai" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = asked["request"]["id"].clone();
    let incoming = asha_on_b.next(SECOND).await.expect("the payer hears of the request");
    assert_eq!(incoming.event, "request");
    assert_eq!(incoming.data, asked["request"]);
    assert_eq!(
        ravi_on_a
            .next(SECOND)
            .await
            .expect("the requester's other tab too")
            .data["status"],
        "pending"
    );

    let paid = http
        .post(format!("{b}/api/v1/requests/{}/pay", id.as_str().unwrap()))
        .bearer_auth(&asha_token)
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    for stream in [&mut asha_on_b, &mut ravi_on_a] {
        let mut events = stream.take(2, SECOND).await;
        events.sort_by(|x, y| x.event.cmp(&y.event));
        let (request, transfer) = (&events[0], &events[1]);
        assert_eq!((request.event.as_str(), &request.data["id"]), ("request", &id));
        assert_eq!(request.data["status"], "paid");
        assert_eq!(transfer.event, "transfer");
        assert_eq!(
            (transfer.data["kind"].as_str(), transfer.data["note"].as_str()),
            (Some("request"), Some("Chai"))
        );
    }
    assert_books_balance(&env.db).await;
}
