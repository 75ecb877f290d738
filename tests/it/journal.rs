//! Money you can prove: grants from the issuer, the journal and its running
//! totals, the first release's data brought in, and `paisa audit` as the
//! real binary runs it.

use crate::common::db::{assert_books_balance, balance, count, docs, find, set_balance};
use crate::common::{server_uri, TestEnv};
use futures::future::join_all;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use paisa::model::{Direction, EntryKind};
use paisa::money::Money;
use paisa::server::bank::error::BankError;
use paisa::server::bank::journal::{ISSUER, MAX_BALANCE};
use paisa::server::bank::{SignUp, MAX_GRANT, MIN_GRANT};
use paisa::server::expiry;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `paisa audit` against the test database.
fn audit_command(env: &TestEnv, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paisa"))
        .args(["audit", "--mongodb-uri", &server_uri(), "--db", env.db.name()])
        .args(extra)
        .output()
        .expect("run paisa audit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_sign_up_is_a_grant_from_the_issuer() {
    let env = TestEnv::new().await;
    let user = env
        .bank()
        .sign_up(SignUp {
            username: "asha@example.com".into(),
            first_name: "Asha".into(),
            last_name: "Rao".into(),
            password: "correct horse battery".into(),
        })
        .await
        .unwrap();
    let grant = balance(&env.db, user).await;
    assert!((MIN_GRANT.paise()..=MAX_GRANT.paise()).contains(&grant));
    let entry = find(&env.db, "transfers", doc! { "to": user })
        .await
        .expect("a grant entry");
    assert_eq!(entry.get_str("kind").unwrap(), "grant");
    assert_eq!(entry.get_object_id("from").unwrap(), ISSUER);
    assert_eq!(entry.get_i64("amount").unwrap(), grant);
    let issuer = find(&env.db, "accounts", doc! { "userId": ISSUER })
        .await
        .expect("the issuer");
    assert_eq!(issuer.get_i64("balance").unwrap(), -grant);
    let account = find(&env.db, "accounts", doc! { "userId": user }).await.unwrap();
    assert_eq!(
        (account.get_i64("credits").unwrap(), account.get_i64("debits").unwrap()),
        (grant, 0)
    );
    // History: the welcome balance, from Paisa itself.
    let history = env.bank().history(user, 20, None).await.unwrap();
    assert_eq!(history.entries.len(), 1);
    let first = &history.entries[0];
    assert_eq!(
        (first.kind, first.direction, first.counterparty.clone()),
        (EntryKind::Grant, Direction::Received, None)
    );
    assert_eq!(first.amount, Money::from_paise(grant));
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn the_issuer_cannot_receive_and_no_one_can_pass_the_largest_balance() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    let one = Money::from_paise(100);
    assert!(matches!(
        env.bank().transfer(a, &ISSUER.to_hex(), one, None).await,
        Err(BankError::InvalidAccount)
    ));
    set_balance(&env.db, a, 10_000).await;
    set_balance(&env.db, b, MAX_BALANCE.paise() - 50).await;
    let before = (balance(&env.db, a).await, balance(&env.db, b).await);
    assert!(matches!(
        env.bank().transfer(a, &b.to_hex(), one, Some("k-1")).await,
        Err(BankError::RecipientLimit)
    ));
    assert_eq!((balance(&env.db, a).await, balance(&env.db, b).await), before);
    // Up to the limit is fine.
    env.bank()
        .transfer(a, &b.to_hex(), Money::from_paise(50), None)
        .await
        .unwrap();
    assert_eq!(balance(&env.db, b).await, MAX_BALANCE.paise());
    assert_books_balance(&env.db).await;
}

/// A database as the first release left it: users, accounts with a balance
/// and nothing else, and transfers without a kind.
async fn first_release_data(env: &TestEnv) -> Vec<(ObjectId, i64)> {
    let grants = [250_000_i64, 100, 999_999, 42_00];
    let users: Vec<ObjectId> = grants.iter().map(|_| ObjectId::new()).collect();
    // Opened an hour ago: before their transfers.
    let hour_ago = (DateTime::now().timestamp_millis() / 1000 - 3600) as u32;
    let accounts: Vec<ObjectId> = users
        .iter()
        .map(|_| {
            let mut id = ObjectId::new().bytes();
            id[..4].copy_from_slice(&hour_ago.to_be_bytes());
            ObjectId::from_bytes(id)
        })
        .collect();
    let mut balances: Vec<i64> = grants.to_vec();
    let moves = [(0, 1, 10_000), (1, 2, 5_000), (2, 0, 7), (0, 3, 1)];
    let mut entries = Vec::new();
    for (from, to, amount) in moves {
        balances[from] -= amount;
        balances[to] += amount;
        entries.push(doc! {
            "_id": ObjectId::new(), "from": users[from], "to": users[to],
            "amount": amount, "createdAt": DateTime::now(),
        });
    }
    let user_docs: Vec<Document> = users
        .iter()
        .enumerate()
        .map(|(i, id)| {
            doc! {
                "_id": id, "username": format!("old{i}@example.com"), "passwordHash": "x",
                "firstName": format!("Old{i}"), "lastName": "User", "nameKey": format!("old{i} user"),
                "lastKey": "user", "createdAt": DateTime::now(),
            }
        })
        .collect();
    let account_docs: Vec<Document> = (0..users.len())
        .map(|i| doc! { "_id": accounts[i], "userId": users[i], "balance": balances[i] })
        .collect();
    env.db
        .collection::<Document>("users")
        .insert_many(user_docs)
        .await
        .unwrap();
    env.db
        .collection::<Document>("accounts")
        .insert_many(account_docs)
        .await
        .unwrap();
    env.db
        .collection::<Document>("transfers")
        .insert_many(entries)
        .await
        .unwrap();
    // As if no migration had ever run on this database.
    env.db
        .collection::<Document>("migrations")
        .delete_many(doc! {})
        .await
        .unwrap();
    users.into_iter().zip(grants).collect()
}

#[tokio::test]
async fn first_release_balances_are_brought_in_once() {
    let env = TestEnv::new().await;
    let users = first_release_data(&env).await;
    let report = paisa::server::bank::audit::audit(&env.client, &env.db, 0)
        .await
        .unwrap();
    assert!(!report.violations.is_empty(), "unexplained balances must show");

    // Two instances starting at once, then a restart: each account is
    // brought in exactly once.
    let (one, two) = (env.bank().clone(), env.other_instance());
    let runs = join_all([one.migrate(), two.migrate()]).await;
    let brought_in: usize = runs.into_iter().map(|r| r.unwrap()).sum();
    assert_eq!(brought_in, users.len());
    env.db
        .collection::<Document>("migrations")
        .delete_many(doc! {})
        .await
        .unwrap();
    assert_eq!(env.bank().migrate().await.unwrap(), 0);
    assert_eq!(env.bank().migrate().await.unwrap(), 0);

    for (user, grant) in &users {
        let openings: Vec<Document> = docs(&env.db, "transfers")
            .await
            .into_iter()
            .filter(|e| e.get_str("kind") == Ok("opening") && e.get_object_id("to") == Ok(*user))
            .collect();
        assert_eq!(openings.len(), 1, "{user}");
        assert_eq!(openings[0].get_object_id("from").unwrap(), ISSUER);
        assert_eq!(openings[0].get_i64("amount").unwrap(), *grant, "{user}");
        // Its history starts with it; the old transfers keep their kind.
        let history = env.bank().history(*user, 20, None).await.unwrap();
        assert_eq!(history.entries.last().unwrap().kind, EntryKind::Opening, "{history:#?}");
        assert!(history.entries[..history.entries.len() - 1]
            .iter()
            .all(|e| e.kind == EntryKind::Transfer));
    }
    assert_eq!(
        count(&env.db, "transfers", doc! { "kind": "opening" }).await,
        users.len() as u64
    );
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn the_audit_names_a_tampered_account_and_clears_when_undone() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    env.bank()
        .transfer(a, &b.to_hex(), Money::from_paise(150), Some("k-1"))
        .await
        .unwrap();
    let ok = audit_command(&env, &[]);
    assert_eq!(ok.status.code(), Some(0), "{}{}", text(&ok.stdout), text(&ok.stderr));
    let summary = text(&ok.stdout);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(summary.starts_with("audit ok: 3 accounts, 3 entries, ₹"), "{summary}");
    // Not on a terminal: progress as plain lines on stderr, never on stdout.
    let progress = text(&ok.stderr);
    assert!(progress.starts_with("paisa audit: reading accounts: "), "{progress}");

    let accounts = env.db.collection::<Document>("accounts");
    let account = find(&env.db, "accounts", doc! { "userId": b }).await.unwrap();
    let account_id = account.get_object_id("_id").unwrap();
    accounts
        .update_one(doc! { "userId": b }, doc! { "$inc": { "balance": 1_i64 } })
        .await
        .unwrap();
    let caught = audit_command(&env, &[]);
    assert_eq!(caught.status.code(), Some(1));
    let listing = text(&caught.stdout);
    let named: Vec<&str> = listing.lines().filter(|l| l.starts_with("violation:")).collect();
    assert!(!named.is_empty(), "{listing}");
    for line in &named {
        assert!(
            line.contains(&account_id.to_hex()) && line.contains(&b.to_hex()) || line.contains("sum to zero"),
            "{line}"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&audit_command(&env, &["--json"]).stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["account"] == account_id.to_hex() && v["found"] != v["expected"]));

    accounts
        .update_one(doc! { "userId": b }, doc! { "$inc": { "balance": -1_i64 } })
        .await
        .unwrap();
    assert_eq!(audit_command(&env, &[]).status.code(), Some(0));
}

#[tokio::test]
async fn the_audit_says_in_one_line_when_it_cannot_run() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_paisa"))
        .args([
            "audit",
            "--mongodb-uri",
            &format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        ])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));

    // A database with no Paisa data in it.
    let out = Command::new(env!("CARGO_BIN_EXE_paisa"))
        .args(["audit", "--mongodb-uri", &server_uri(), "--db", "nothing_here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no Paisa"), "{}", text(&out.stderr));
}

/// Two users, the first with ₹100, and a transfer of ₹1 between them
/// under the idempotency key `key`: their ids and its receipt.
async fn a_keyed_transfer(env: &TestEnv, key: &str) -> (ObjectId, ObjectId, paisa::model::Receipt) {
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, a, 10_000).await;
    let first = env
        .bank()
        .transfer(a, &b.to_hex(), Money::from_paise(100), Some(key))
        .await
        .unwrap();
    (a, b, first)
}

#[tokio::test]
async fn an_idempotency_key_is_remembered_for_a_day() {
    let env = TestEnv::new().await;
    let (a, b, first) = a_keyed_transfer(&env, "k").await;
    // A record is kept for a day: a sweep now leaves it.
    assert_eq!(expiry::sweep(&env.db, DateTime::now()).await.unwrap(), 0);
    // Within the day: a replay.
    let again = env
        .bank()
        .transfer(a, &b.to_hex(), Money::from_paise(100), Some("k"))
        .await
        .unwrap();
    assert_eq!(again.transfer_id, first.transfer_id);
    // A day later (the record and the entry made 25 hours ago; no sweep
    // has passed yet): the key is free for a new transfer.
    let day_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 25 * 3600 * 1000);
    env.db
        .collection::<Document>("idempotencyKeys")
        .update_many(doc! {}, doc! { "$set": { "createdAt": day_ago } })
        .await
        .unwrap();
    env.db
        .collection::<Document>("transfers")
        .update_one(
            doc! { "_id": ObjectId::parse_str(&first.transfer_id).unwrap() },
            doc! { "$set": { "createdAt": day_ago } },
        )
        .await
        .unwrap();
    let later = env
        .bank()
        .transfer(a, &b.to_hex(), Money::from_paise(100), Some("k"))
        .await
        .unwrap();
    assert_ne!(later.transfer_id, first.transfer_id);
    assert_eq!(balance(&env.db, a).await, 9_800);
    assert_books_balance(&env.db).await;
    // The new record, a day on, is removed by the sweep (with what else
    // is a day old by then: this instance's heartbeat).
    let day_on = DateTime::from_millis(DateTime::now().timestamp_millis() + 25 * 3600 * 1000);
    assert!(expiry::sweep(&env.db, day_on).await.unwrap() >= 1);
    assert_eq!(count(&env.db, "idempotencyKeys", doc! {}).await, 0);
}

#[tokio::test]
async fn a_transfer_retried_across_the_upgrade_to_string_key_ids_moves_money_once() {
    let env = TestEnv::new().await;
    let (a, b, first) = a_keyed_transfer(&env, "retry-me").await;
    // Its record as an earlier release kept it: `_id: {from, key}`.
    let records = env.db.collection::<Document>("idempotencyKeys");
    let mut old = records.find_one(doc! {}).await.unwrap().unwrap();
    records.delete_many(doc! {}).await.unwrap();
    old.insert("_id", doc! { "from": a, "key": "retry-me" });
    old.remove("from");
    old.remove("key");
    records.insert_one(&old).await.unwrap();
    // The upgraded instance starts (twice: a second start finds nothing to do).
    env.bank().migrate().await.unwrap();
    env.bank().migrate().await.unwrap();
    assert_eq!(
        count(&env.db, "idempotencyKeys", doc! { "_id": { "$type": "object" } }).await,
        0
    );
    assert_eq!(count(&env.db, "idempotencyKeys", doc! {}).await, 1);
    // The retry gets the first outcome; nothing moves again.
    let again = env
        .bank()
        .transfer(a, &b.to_hex(), Money::from_paise(100), Some("retry-me"))
        .await
        .unwrap();
    assert_eq!(again.transfer_id, first.transfer_id);
    assert_eq!(balance(&env.db, a).await, 9_900);
    assert_eq!(
        count(&env.db, "transfers", doc! { "idempotencyKey": "retry-me" }).await,
        1
    );
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn the_audit_catches_a_key_applied_twice_and_a_record_without_its_entry() {
    let env = TestEnv::new().await;
    let (a, b, first) = a_keyed_transfer(&env, "k").await;
    // A second entry under the same key, a minute later: the key moved
    // money twice (its postings applied too, so only the key is wrong).
    let journal = env.db.collection::<Document>("transfers");
    let entry = find(&env.db, "transfers", doc! { "idempotencyKey": "k" })
        .await
        .unwrap();
    let mut twin = entry.clone();
    twin.insert("_id", ObjectId::new());
    // It takes the next place in both accounts' order, as a real one would.
    for (side, d) in [("fromAfter", -100_i64), ("toAfter", 100)] {
        let after = entry.get_document(side).unwrap();
        twin.insert(
            side,
            doc! { "balance": after.get_i64("balance").unwrap() + d, "seq": after.get_i64("seq").unwrap() + 1 },
        );
    }
    journal.insert_one(&twin).await.unwrap();
    let accounts = env.db.collection::<Document>("accounts");
    accounts
        .update_one(
            doc! { "userId": a },
            doc! { "$inc": { "balance": -100_i64, "debits": 100_i64, "postings": 1_i64 } },
        )
        .await
        .unwrap();
    accounts
        .update_one(
            doc! { "userId": b },
            doc! { "$inc": { "balance": 100_i64, "credits": 100_i64, "postings": 1_i64 } },
        )
        .await
        .unwrap();
    assert_eq!(audit_checks(&env).await, ["one idempotency key applied twice"]);
    // The first entry gone: its record names nothing (and the books no
    // longer balance for the two accounts).
    journal
        .delete_one(doc! { "_id": ObjectId::parse_str(&first.transfer_id).unwrap() })
        .await
        .unwrap();
    let found = audit_checks(&env).await;
    assert!(found.contains(&"idempotency record must name its entry"), "{found:?}");
    assert!(
        found.contains(&"balance must equal its entries' credits − debits"),
        "{found:?}"
    );
}

#[tokio::test]
async fn the_audit_proves_the_balances_entries_record_for_live_updates() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, a, 10_000).await;
    let bank = env.bank();
    let mut entries = Vec::new();
    for (from, to, paise) in [(a, b, 150), (b, a, 50), (a, b, 200)] {
        let receipt = bank
            .transfer(from, &to.to_hex(), Money::from_paise(paise), None)
            .await
            .unwrap();
        entries.push(ObjectId::parse_str(&receipt.transfer_id).unwrap());
    }
    // Each entry records both accounts right after it: Ravi's grant was his
    // first posting; then +1.50, −0.50, +2.00.
    let middle = find(&env.db, "transfers", doc! { "_id": entries[1] }).await.unwrap();
    let ravi = middle.get_document("fromAfter").unwrap();
    assert_eq!(ravi.get_i64("seq").unwrap(), 3);
    assert_eq!(ravi.get_i64("balance").unwrap(), balance(&env.db, b).await - 200);
    assert_books_balance(&env.db).await;

    // A recorded balance one paisa off, in the middle of the chain, is found.
    let journal = env.db.collection::<Document>("transfers");
    journal
        .update_one(
            doc! { "_id": entries[1] },
            doc! { "$inc": { "fromAfter.balance": 1_i64 } },
        )
        .await
        .unwrap();
    let caught = audit_command(&env, &[]);
    assert_eq!(caught.status.code(), Some(1));
    let listing = text(&caught.stdout);
    assert!(
        listing.contains("balances recorded after each entry") && listing.contains(&b.to_hex()),
        "{listing}"
    );
    journal
        .update_one(
            doc! { "_id": entries[1] },
            doc! { "$inc": { "fromAfter.balance": -1_i64 } },
        )
        .await
        .unwrap();
    assert_eq!(audit_command(&env, &[]).status.code(), Some(0));

    // A posting counted that no entry records.
    env.db
        .collection::<Document>("accounts")
        .update_one(doc! { "userId": a }, doc! { "$inc": { "postings": 1_i64 } })
        .await
        .unwrap();
    let caught = text(&audit_command(&env, &[]).stdout);
    assert!(
        caught.contains("posting count") && caught.contains(&a.to_hex()),
        "{caught}"
    );
}

#[tokio::test]
async fn the_audit_catches_a_paid_request_also_declined_or_asking_another_amount() {
    let env = TestEnv::new().await;
    let id = a_paid_request(&env).await;
    assert_books_balance(&env.db).await;
    let requests = env.db.collection::<Document>("requests");
    requests
        .update_one(doc! { "_id": id }, doc! { "$set": { "status": "declined" } })
        .await
        .unwrap();
    assert_eq!(
        audit_checks(&env).await,
        ["a request paid must not also be declined or cancelled"]
    );
    requests
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "status": "pending", "amount": 400_i64 } },
        )
        .await
        .unwrap();
    assert_eq!(
        audit_checks(&env).await,
        ["an entry paying a request must match what was asked"]
    );
}

/// Ravi asks Asha for ₹5 and she pays: the request's id.
async fn a_paid_request(env: &TestEnv) -> ObjectId {
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, asha, 10_000).await;
    let asked = env
        .bank()
        .request(ravi, &asha.to_hex(), Money::from_paise(500), None)
        .await
        .unwrap();
    env.bank().pay_request(asha, &asked.id).await.unwrap();
    ObjectId::parse_str(&asked.id).unwrap()
}

/// The checks `paisa audit` finds broken in `env`'s database, in order.
async fn audit_checks(env: &TestEnv) -> Vec<&'static str> {
    let report = paisa::server::bank::audit::audit(&env.client, &env.db, 0)
        .await
        .unwrap();
    report.violations.into_iter().map(|v| v.check).collect()
}

/// While a running Paisa holds the database files, the audit reads only
/// through the database that Paisa serves from; if that does not answer, it
/// says so (exit 2) and never opens the files itself: a second database on
/// them would corrupt them.
#[tokio::test]
async fn the_audit_never_opens_the_files_of_a_running_paisa() {
    use paisa::server::embedded::EmbeddedMongo;
    let data = std::env::temp_dir().join(format!("paisa-audit-{}-{}", std::process::id(), ObjectId::new()));
    let storage = data.join("db");
    let running = EmbeddedMongo::start(&crate::common::secantusd(), &storage).unwrap();
    // Its address, as a Paisa that stopped answering would have left it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        data.join("db.uri"),
        format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paisa"))
        .args(["audit", "--data-dir"])
        .arg(&data)
        .arg("--secantusd")
        .arg(crate::common::secantusd())
        .env_remove("MONGODB_URI")
        .output()
        .unwrap();
    drop(running);
    let _ = std::fs::remove_dir_all(&data);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("did not answer"), "{}", text(&out.stderr));
}

/// Entries the audit cannot tie to accounts are violations that name them:
/// one to an id with no account, one with no recipient at all, one whose
/// recipient is no ObjectId (no range of recipients holds those two, so
/// the count tells, and they are looked for).
#[tokio::test]
async fn the_audit_reads_every_entry_and_names_a_ghost() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    env.bank()
        .transfer(a, &b.to_hex(), Money::from_paise(150), None)
        .await
        .unwrap();
    assert!(audit_checks(&env).await.is_empty());
    let journal = env.db.collection::<Document>("transfers");
    let names_recipient_nobody = |listing: &str, entry: &str| {
        listing
            .lines()
            .any(|l| l.contains("recipient account that does not exist") && l.contains(entry))
    };
    let ghost = ObjectId::new();
    let to_nobody =
        doc! { "_id": ghost, "from": a, "to": ObjectId::new(), "amount": 100_i64, "createdAt": DateTime::now() };
    journal.insert_one(to_nobody).await.unwrap();
    let caught = audit_command(&env, &[]);
    assert_eq!(caught.status.code(), Some(1));
    assert!(
        names_recipient_nobody(&text(&caught.stdout), &ghost.to_hex()),
        "{}",
        text(&caught.stdout)
    );
    journal.delete_one(doc! { "_id": ghost }).await.unwrap();
    let nameless = ObjectId::new();
    journal
        .insert_one(doc! { "_id": nameless, "from": a, "amount": 100_i64 })
        .await
        .unwrap();
    let caught = audit_command(&env, &[]);
    assert_eq!(caught.status.code(), Some(1));
    assert!(
        names_recipient_nobody(&text(&caught.stdout), &nameless.to_hex()),
        "{}",
        text(&caught.stdout)
    );
    journal.delete_one(doc! { "_id": nameless }).await.unwrap();
    journal
        .insert_one(doc! { "_id": "not-an-id", "from": a, "to": b.to_hex(), "amount": 100_i64 })
        .await
        .unwrap();
    let caught = audit_command(&env, &[]);
    assert_eq!(caught.status.code(), Some(1));
    assert!(
        names_recipient_nobody(&text(&caught.stdout), "not-an-id"),
        "{}",
        text(&caught.stdout)
    );
}

/// The audit itself finds a request paid twice, without the unique index
/// that normally makes it impossible.
#[tokio::test]
async fn the_audit_catches_a_request_paid_twice_without_the_index() {
    let env = TestEnv::new().await;
    let request = a_paid_request(&env).await;
    let journal = env.db.collection::<Document>("transfers");
    journal.drop_index("request_1").await.unwrap();
    let mut again = find(&env.db, "transfers", doc! { "request": request }).await.unwrap();
    again.insert("_id", ObjectId::new());
    journal.insert_one(again).await.unwrap();
    let checks = audit_checks(&env).await;
    assert!(
        checks.contains(&"a request must be paid by one entry at most"),
        "{checks:?}"
    );
}

/// A busy database is not an unreachable one: with a database kept busy by
/// reads of seconds each, one after another, `paisa audit` still proves
/// the books, even given a URI whose heartbeats would give up on a busy
/// server within 3.5 s (the audit's patience is its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_rides_out_a_busy_database() {
    use paisa::server::embedded::EmbeddedMongo;
    let own = EmbeddedMongo::start(&crate::common::secantusd(), ":memory:".as_ref()).unwrap();
    let (client, db) = paisa::server::db::connect(&own.uri(), "busy").await.unwrap();
    paisa::server::start::ensure_indexes(&db).await.unwrap();
    let bank = paisa::server::bank::Bank::new(client.clone(), &db, paisa::server::bank::passwords::Passwords::new(1));
    bank.migrate().await.unwrap();
    let users: Vec<_> = (0..20)
        .map(|i| crate::common::seed(format!("u{i}@example.com"), "Asha", "Rao"))
        .collect();
    let ids = bank.import(&users).await.unwrap();
    for pair in ids.windows(2) {
        bank.transfer(pair[0], &pair[1].to_hex(), Money::from_paise(1), None)
            .await
            .unwrap();
    }
    // Reads that keep the single-threaded database busy for seconds each.
    let scratch = db.collection::<Document>("scratch");
    let rows: Vec<Document> = (0..200_000_i64).map(|i| doc! { "v": i }).collect();
    for chunk in rows.chunks(10_000) {
        scratch.insert_many(chunk.to_vec()).await.unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let (scratch, stop) = (scratch.clone(), stop.clone());
        tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let began = Instant::now();
                let _ = scratch.count_documents(doc! { "v": { "$gte": 0 } }).await;
                longest = longest.max(began.elapsed());
            }
            longest
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let uri = format!("{}&heartbeatFrequencyMS=500", own.uri());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_paisa"))
            .args(["audit", "--mongodb-uri", &uri, "--db", "busy", "--pace", "0"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let longest = busy.await.unwrap();
    println!("longest busy read: {longest:?}");
    assert!(
        longest > Duration::from_secs(2),
        "the database was not busy enough: {longest:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("audit ok: 21 accounts"),
        "{}",
        text(&out.stdout)
    );
}
