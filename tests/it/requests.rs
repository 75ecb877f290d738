//! Payment requests over the API: ask, list, pay exactly once, decline
//! (and block), cancel, expire; every refusal the contract names.

use crate::common::db::{assert_books_balance, balance, set_balance};
use crate::common::{serve, TestEnv};
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use paisa::money::Money;
use paisa::server::bank::error::BankError;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            base: format!("{base}/api/v1"),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    /// Asks `from` for `amount`; the new request.
    async fn ask(&self, token: &str, from: ObjectId, amount: Value) -> Value {
        let (status, body) = self
            .post(
                token,
                "/requests",
                Some(json!({ "from": from.to_hex(), "amount": amount })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["request"].clone()
    }
}

/// Two instances on one database; Asha holds ₹100, Ravi nothing.
struct TwoInstances {
    a: Client,
    b: Client,
    asha: ObjectId,
    ravi: ObjectId,
    asha_token: String,
    ravi_token: String,
}

impl TwoInstances {
    async fn new(env: &TestEnv) -> TwoInstances {
        let a = Client::new(&env.serve().await);
        let b = Client::new(&serve(env.other_instance_state()).await);
        let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
        set_balance(&env.db, asha, 10_000).await;
        set_balance(&env.db, ravi, 0).await;
        let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);
        TwoInstances {
            a,
            b,
            asha,
            ravi,
            asha_token,
            ravi_token,
        }
    }
}

fn id(request: &Value) -> String {
    request["id"].as_str().unwrap().to_owned()
}

/// A request document as stored, written past the bank: `from` asked by
/// `to` for ₹0.01, expiring in an hour, in state `status`.
fn stored_request(id: ObjectId, from: ObjectId, to: ObjectId, status: &str) -> Document {
    let now = mongodb::bson::DateTime::now();
    let expires = mongodb::bson::DateTime::from_millis(now.timestamp_millis() + 3_600_000);
    doc! { "_id": id, "from": from, "to": to, "amount": 1_i64, "status": status,
    "createdAt": now, "expiresAt": expires }
}

#[tokio::test]
async fn a_request_is_asked_listed_and_paid_once_into_both_histories() {
    let env = TestEnv::new().await;
    let api = Client::new(&env.serve().await);
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    set_balance(&env.db, ravi, 0).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);

    let (status, body) = api
        .post(
            &ravi_token,
            "/requests",
            Some(json!({ "from": asha.to_hex(), "amount": 12.5, "note": "Dinner 🍛" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = &body["request"];
    assert_eq!(request["status"], "pending");
    assert_eq!(request["amount"], 12.5);
    assert_eq!(request["note"], "Dinner 🍛");
    assert_eq!(
        request["from"],
        json!({ "_id": asha.to_hex(), "firstName": "Asha", "lastName": "Rao" })
    );
    assert_eq!(request["to"]["_id"], ravi.to_hex());
    let created = chrono::DateTime::parse_from_rfc3339(request["createdAt"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(request["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(7));

    // Asha sees it incoming (the default list), Ravi outgoing.
    let (_, incoming) = api.get(&asha_token, "/requests").await;
    assert_eq!(incoming["requests"][0]["id"], request["id"]);
    let (_, outgoing) = api.get(&ravi_token, "/requests?role=outgoing&status=pending").await;
    assert_eq!(outgoing["requests"][0]["id"], request["id"]);
    let (_, none) = api.get(&ravi_token, "/requests").await;
    assert_eq!(none["requests"], json!([]));

    let (status, paid) = api
        .post(&asha_token, &format!("/requests/{}/pay", id(request)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["message"], "Transfer successful");
    // The receipt: the journal entry and the payer's balance after it.
    assert_eq!(paid["balance"], 87.5);
    let entry = paid["transferId"].as_str().unwrap().to_owned();
    let (_, listed) = api.get(&asha_token, "/account/transactions?limit=1").await;
    assert_eq!(listed["transactions"][0]["id"], entry.as_str());
    assert_eq!(
        (balance(&env.db, asha).await, balance(&env.db, ravi).await),
        (8_750, 1_250)
    );
    for token in [&asha_token, &ravi_token] {
        let (_, page) = api.get(token, "/account/transactions?limit=1").await;
        let entry = &page["transactions"][0];
        assert_eq!(
            (entry["kind"].as_str(), entry["note"].as_str()),
            (Some("request"), Some("Dinner 🍛"))
        );
    }
    let (status, again) = api
        .post(&asha_token, &format!("/requests/{}/pay", id(request)), None)
        .await;
    assert_eq!(
        (status, again),
        (
            StatusCode::CONFLICT,
            json!({ "message": "Request is no longer pending" })
        )
    );
    // Paid is the answer even when the balance would no longer cover it.
    set_balance(&env.db, asha, 100).await;
    let (status, again) = api
        .post(&asha_token, &format!("/requests/{}/pay", id(request)), None)
        .await;
    assert_eq!(
        (status, again["message"].as_str()),
        (StatusCode::CONFLICT, Some("Request is no longer pending"))
    );
    let (_, listed) = api.get(&ravi_token, "/requests?role=outgoing&status=paid").await;
    assert_eq!(listed["requests"][0]["status"], "paid");
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn every_refusal_is_the_documented_answer_and_changes_nothing() {
    let env = TestEnv::new().await;
    let api = Client::new(&env.serve().await);
    let (asha, ravi, mina) = (
        env.user("Asha", "Rao").await,
        env.user("Ravi", "Kumar").await,
        env.user("Mina", "Shah").await,
    );
    set_balance(&env.db, asha, 100).await;
    let (asha_token, ravi_token, mina_token) = (env.token(asha).await, env.token(ravi).await, env.token(mina).await);
    let ask = |from: String, amount: Value| json!({ "from": from, "amount": amount });
    for (body, message) in [
        (ask(ravi.to_hex(), json!(1)), "Invalid account"),
        (ask(ObjectId::new().to_hex(), json!(1)), "Invalid account"),
        (ask("0".repeat(24), json!(1)), "Invalid account"),
        (ask("nope".into(), json!(1)), "Invalid account"),
        (ask(asha.to_hex(), json!(0)), "Invalid amount"),
        (ask(asha.to_hex(), json!(1.005)), "Invalid amount"),
        (ask(asha.to_hex(), json!("1")), "Invalid amount"),
        (
            json!({ "from": asha.to_hex(), "amount": 1, "note": "x".repeat(141) }),
            "Note must be at most 140 characters",
        ),
        (json!({ "from": asha.to_hex() }), "Invalid request"),
    ] {
        let (status, answer) = api.post(&ravi_token, "/requests", Some(body.clone())).await;
        assert_eq!(
            (status, answer["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some(message)),
            "{body}"
        );
    }

    let request = api.ask(&ravi_token, asha, json!(5)).await;
    let path = |action: &str| format!("/requests/{}/{action}", id(&request));
    // Not theirs to act on, or no such request: 404.
    let no_such = json!({ "message": "No such request" });
    for (token, action) in [
        (&mina_token, "pay"),
        (&mina_token, "decline"),
        (&mina_token, "cancel"),
        (&ravi_token, "pay"),
        (&asha_token, "cancel"),
    ] {
        assert_eq!(
            api.post(token, &path(action), None).await,
            (StatusCode::NOT_FOUND, no_such.clone()),
            "{action}"
        );
    }
    for bad in ["nope", &ObjectId::new().to_hex()] {
        assert_eq!(
            api.post(&asha_token, &format!("/requests/{bad}/pay"), None).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // Insufficient balance: refused, still pending.
    let (status, body) = api.post(&asha_token, &path("pay"), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({ "message": "Insufficient balance" }))
    );
    let (_, pending) = api.get(&asha_token, "/requests").await;
    assert_eq!(pending["requests"][0]["status"], "pending");
    assert_eq!(balance(&env.db, asha).await, 100);

    // Declined with a block: further requests from Ravi to Asha are refused.
    let (status, declined) = api
        .post(&asha_token, &path("decline"), Some(json!({ "block": true })))
        .await;
    assert_eq!(
        (status, declined["request"]["status"].as_str()),
        (StatusCode::OK, Some("declined"))
    );
    for action in ["pay", "decline"] {
        assert_eq!(
            api.post(&asha_token, &path(action), None).await.0,
            StatusCode::CONFLICT,
            "{action}"
        );
    }
    assert_eq!(
        api.post(&ravi_token, &path("cancel"), None).await.0,
        StatusCode::CONFLICT
    );
    let (status, body) = api
        .post(&ravi_token, "/requests", Some(ask(asha.to_hex(), json!(1))))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invalid account"))
    );

    // Cancelled by the requester; then it cannot be paid.
    let other = api.ask(&mina_token, ravi, json!(1)).await;
    let (status, cancelled) = api
        .post(&mina_token, &format!("/requests/{}/cancel", id(&other)), None)
        .await;
    assert_eq!(
        (status, cancelled["request"]["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    assert_eq!(
        api.post(&ravi_token, &format!("/requests/{}/pay", id(&other)), None)
            .await
            .0,
        StatusCode::CONFLICT
    );

    // At most 20 pending outgoing.
    for _ in 0..20 {
        api.ask(&mina_token, ravi, json!(1)).await;
    }
    let (status, body) = api
        .post(&mina_token, "/requests", Some(ask(ravi.to_hex(), json!(1))))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    for bad in ["/requests?role=sideways", "/requests?status=lost"] {
        assert_eq!(api.get(&mina_token, bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn eight_concurrent_payments_of_one_request_move_money_once() {
    let env = TestEnv::new().await;
    let TwoInstances {
        a,
        b,
        asha,
        ravi,
        asha_token,
        ravi_token,
    } = TwoInstances::new(&env).await;
    let request = a.ask(&ravi_token, asha, json!(7)).await;
    let path = format!("/requests/{}/pay", id(&request));
    let answers = futures::future::join_all((0..8).map(|i| {
        let (client, path, token) = (if i % 2 == 0 { &a } else { &b }, &path, &asha_token);
        async move { client.post(token, path, None).await.0 }
    }))
    .await;
    let ok = answers.iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = answers.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((ok, conflicts), (1, 7), "{answers:?}");
    assert_eq!(
        (balance(&env.db, asha).await, balance(&env.db, ravi).await),
        (9_300, 700)
    );
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn a_request_expires_as_a_state_and_can_no_longer_be_paid() {
    let env = TestEnv::new().await;
    let mut state = env.state.clone();
    state.bank = state.bank.clone().with_request_lifetime(Duration::from_millis(400));
    let api = Client::new(&serve(state).await);
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);
    let request = api.ask(&ravi_token, asha, json!(1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, pending) = api.get(&asha_token, "/requests").await;
    assert_eq!(pending["requests"], json!([]));
    let (_, expired) = api.get(&asha_token, "/requests?status=expired").await;
    assert_eq!(expired["requests"][0]["id"], request["id"]);
    assert_eq!(expired["requests"][0]["status"], "expired");
    let (_, all) = api.get(&ravi_token, "/requests?role=outgoing&status=all").await;
    assert_eq!(all["requests"][0]["status"], "expired");
    for action in ["pay", "decline"] {
        let path = format!("/requests/{}/{action}", id(&request));
        assert_eq!(
            api.post(&asha_token, &path, None).await.0,
            StatusCode::CONFLICT,
            "{action}"
        );
    }
    assert_eq!(balance(&env.db, asha).await, 10_000);
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn a_payment_racing_a_decline_and_a_cancel_ends_the_request_one_way() {
    let env = TestEnv::new().await;
    let TwoInstances {
        a,
        b,
        asha,
        ravi,
        asha_token,
        ravi_token,
    } = TwoInstances::new(&env).await;
    let mut paid = 0;
    for round in 0..6 {
        let request = a.ask(&ravi_token, asha, json!(1)).await;
        let path = |action: &str| format!("/requests/{}/{action}", id(&request));
        // Each round starts a different one of the three first.
        let mut racers = [
            (&a, &asha_token, "pay", "paid"),
            (&b, &asha_token, "decline", "declined"),
            (&a, &ravi_token, "cancel", "cancelled"),
        ];
        racers.rotate_left(round % 3);
        let answers = futures::future::join_all(racers.iter().map(|(client, token, action, _)| {
            let path = path(action);
            async move { client.post(token, &path, None).await.0 }
        }))
        .await;
        let winners: Vec<&str> = racers
            .iter()
            .zip(&answers)
            .filter(|(_, status)| **status == StatusCode::OK)
            .map(|((_, _, _, ended), _)| *ended)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        assert!(
            answers
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
            "{answers:?}"
        );
        paid += usize::from(winners[0] == "paid");
        let (_, all) = a.get(&ravi_token, "/requests?role=outgoing&status=all").await;
        assert_eq!(all["requests"][0]["status"], winners[0], "round {round}");
        assert_eq!(
            (balance(&env.db, asha).await, balance(&env.db, ravi).await),
            (10_000 - 100 * paid as i64, 100 * paid as i64),
            "round {round}"
        );
    }
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn a_paid_request_frees_its_place_among_the_twenty_pending_and_lists_as_paid() {
    let env = TestEnv::new().await;
    let api = Client::new(&env.serve().await);
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);
    let mut asked = Vec::new();
    for _ in 0..20 {
        asked.push(api.ask(&ravi_token, asha, json!(1)).await);
    }
    let more = json!({ "from": asha.to_hex(), "amount": 1 });
    assert_eq!(
        api.post(&ravi_token, "/requests", Some(more.clone())).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let first = id(&asked[0]);
    assert_eq!(
        api.post(&asha_token, &format!("/requests/{first}/pay"), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.post(&ravi_token, "/requests", Some(more.clone())).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.post(&ravi_token, "/requests", Some(more)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let listed = |path: &'static str| {
        let (api, token) = (&api, &ravi_token);
        async move {
            let (status, body) = api.get(token, path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["requests"].as_array().unwrap().clone()
        }
    };
    let pending = listed("/requests?role=outgoing&status=pending").await;
    assert_eq!(pending.len(), 20);
    assert!(pending
        .iter()
        .all(|r| r["status"] == "pending" && r["id"] != first.as_str()));
    let paid = listed("/requests?role=outgoing&status=paid").await;
    assert_eq!(paid.len(), 1);
    assert_eq!(
        (paid[0]["id"].as_str(), paid[0]["status"].as_str()),
        (Some(first.as_str()), Some("paid"))
    );
    assert_eq!(listed("/requests?role=outgoing&status=all").await.len(), 21);
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn a_state_filter_looks_past_a_page_of_other_states() {
    let env = TestEnv::new().await;
    let api = Client::new(&env.serve().await);
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    let asha_token = env.token(asha).await;
    // The oldest request is still pending; the 250 after it were paid
    // (their entries written here, not through the bank).
    let ids: Vec<ObjectId> = (0..251).map(|_| ObjectId::new()).collect();
    let requests: Vec<Document> = ids
        .iter()
        .map(|id| stored_request(*id, asha, ravi, "pending"))
        .collect();
    env.db
        .collection::<Document>("requests")
        .insert_many(requests)
        .await
        .unwrap();
    let entries: Vec<Document> = ids[1..]
        .iter()
        .map(|id| {
            doc! { "_id": ObjectId::new(), "kind": "request", "from": asha, "to": ravi, "amount": 1_i64,
            "createdAt": mongodb::bson::DateTime::now(), "request": id }
        })
        .collect();
    env.db
        .collection::<Document>("transfers")
        .insert_many(entries)
        .await
        .unwrap();
    let (_, pending) = api.get(&asha_token, "/requests?status=pending").await;
    let pending = pending["requests"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["id"], ids[0].to_hex());
    let (_, paid) = api.get(&asha_token, "/requests?status=paid").await;
    let paid = paid["requests"].as_array().unwrap();
    assert_eq!(paid.len(), 100, "at most a hundred listed");
    assert_eq!(paid[0]["id"], ids[250].to_hex(), "newest first");
    assert!(paid.iter().all(|r| r["status"] == "paid"));
}

#[tokio::test]
async fn requests_closed_by_the_first_release_keep_their_state_and_no_request_is_paid_twice() {
    let env = TestEnv::new().await;
    let api = Client::new(&env.serve().await);
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);
    // As the first release of requests stored them: the state in the document.
    for status in ["paid", "declined", "cancelled"] {
        let id = ObjectId::new();
        env.db
            .collection::<Document>("requests")
            .insert_one(stored_request(id, asha, ravi, status))
            .await
            .unwrap();
        let (_, listed) = api.get(&asha_token, &format!("/requests?status={status}")).await;
        assert_eq!(listed["requests"][0]["id"], id.to_hex(), "{status}");
        assert_eq!(listed["requests"][0]["status"], status);
        for (token, action) in [(&asha_token, "pay"), (&asha_token, "decline"), (&ravi_token, "cancel")] {
            assert_eq!(
                api.post(token, &format!("/requests/{}/{action}", id.to_hex()), None)
                    .await
                    .0,
                StatusCode::CONFLICT,
                "{status}: {action}"
            );
        }
    }
    let (_, pending) = api.get(&asha_token, "/requests").await;
    assert_eq!(pending["requests"], json!([]));
    assert_eq!(balance(&env.db, asha).await, 10_000);

    // A release that keeps no outcomes sees a request paid here as pending;
    // the journal still refuses it a second entry.
    let request = api.ask(&ravi_token, asha, json!(1)).await;
    let (status, paid) = api
        .post(&asha_token, &format!("/requests/{}/pay", id(&request)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let paid_request = ObjectId::parse_str(id(&request)).unwrap();
    let entry = crate::common::db::find(&env.db, "transfers", doc! { "request": paid_request })
        .await
        .unwrap();
    let mut again = entry.clone();
    again.insert("_id", ObjectId::new());
    let refused = env.db.collection::<Document>("transfers").insert_one(again).await;
    let refused = refused.expect_err("a second entry for one request");
    assert!(
        matches!(&*refused.kind, ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000),
        "{refused}"
    );
    assert_books_balance(&env.db).await;
}

/// Waits (at most 5 s) until `holds` is true.
async fn until(what: &str, holds: impl Fn() -> bool) {
    let began = std::time::Instant::now();
    while !holds() {
        assert!(began.elapsed() < Duration::from_secs(5), "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A payment starts from what the live feed keeps of a pending request
/// rather than reading it: another instance has it within a second of its
/// making, and forgets it once it is declined or paid anywhere.
#[tokio::test]
async fn another_instance_pays_from_memory_and_forgets_a_request_once_closed_or_paid() {
    let env = TestEnv::new().await;
    let other = env.other_instance_state();
    let (a, b) = (env.bank(), &other.bank);
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    set_balance(&env.db, ravi, 0).await;
    let payer = asha.to_hex();
    let declined = a
        .request(ravi, &payer, Money::from_paise(100), Some("tea"))
        .await
        .unwrap();
    let paid = a
        .request(ravi, &payer, Money::from_paise(100), Some("lunch"))
        .await
        .unwrap();
    let began = std::time::Instant::now();
    until("the other instance keeps both", || {
        b.pays_from_memory(&declined.id) && b.pays_from_memory(&paid.id)
    })
    .await;
    assert!(began.elapsed() < Duration::from_secs(1), "{:?}", began.elapsed());

    a.decline_request(asha, &declined.id, false).await.unwrap();
    until("the decline is heard", || !b.pays_from_memory(&declined.id)).await;
    assert!(matches!(
        b.pay_request(asha, &declined.id).await,
        Err(BankError::NotPending)
    ));
    let receipt = b.pay_request(asha, &paid.id).await.unwrap();
    assert_eq!(receipt.balance, Money::from_paise(9_900));
    until("the payment is heard by both", || {
        !a.pays_from_memory(&paid.id) && !b.pays_from_memory(&paid.id)
    })
    .await;
    assert!(matches!(
        a.pay_request(asha, &paid.id).await,
        Err(BankError::NotPending)
    ));
    // One deleted past the bank (by hand) is forgotten too: there is none.
    let deleted = a.request(ravi, &payer, Money::from_paise(100), None).await.unwrap();
    until("the other instance keeps it", || b.pays_from_memory(&deleted.id)).await;
    let deleted_id = ObjectId::parse_str(&deleted.id).unwrap();
    env.db
        .collection::<Document>("requests")
        .delete_one(doc! { "_id": deleted_id })
        .await
        .unwrap();
    until("the deletion is heard", || !b.pays_from_memory(&deleted.id)).await;
    assert!(matches!(
        b.pay_request(asha, &deleted.id).await,
        Err(BankError::NoSuchRequest)
    ));
    assert_eq!(balance(&env.db, ravi).await, 100);
    assert_books_balance(&env.db).await;
}
