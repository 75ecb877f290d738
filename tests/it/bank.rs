//! The banking core against a real MongoDB-wire server: every rule of
//! users, accounts, transfers and the ledger, and the money invariants under
//! heavy concurrency.

use crate::common::db::{assert_books_balance, balances, count, docs, find, set_balance};
use crate::common::{TestEnv, PASSWORD};
use futures::future::join_all;
use mongodb::bson::{doc, oid::ObjectId, Document};
use paisa::model::{Direction, EntryKind};
use paisa::money::Money;
use paisa::server::bank::error::BankError;
use paisa::server::bank::journal::ISSUER;
use paisa::server::bank::{ProfileUpdate, SignUp, MAX_GRANT, MIN_GRANT};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

fn sign_up(email: &str) -> SignUp {
    SignUp {
        username: email.into(),
        first_name: "Asha".into(),
        last_name: "Rao".into(),
        password: "correct horse battery".into(),
    }
}

/// The journal's transfers (it also holds grants and opening balances);
/// checks on the way that the books balance.
async fn ledger(env: &TestEnv) -> Vec<Document> {
    assert_books_balance(&env.db).await;
    let mut entries = docs(&env.db, "transfers").await;
    entries.retain(|e| e.get_str("kind") == Ok("transfer"));
    entries
}

// ----- users -----------------------------------------------------------

#[tokio::test]
async fn sign_up_creates_user_and_account_with_a_random_grant() {
    let env = TestEnv::new().await;
    let id = env.bank().sign_up(sign_up("  Asha.Rao@Example.COM ")).await.unwrap();
    let user = find(&env.db, "users", doc! { "_id": id }).await.unwrap();
    assert_eq!(user.get_str("username").unwrap(), "asha.rao@example.com");
    let hash = user.get_str("passwordHash").unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let stored = format!("{user:?}");
    assert!(!stored.contains("correct horse battery"), "plaintext password stored");
    assert!(user.get("password").is_none());
    let account = find(&env.db, "accounts", doc! { "userId": id }).await.unwrap();
    let balance = account.get_i64("balance").expect("Int64 paise");
    assert!((100..=1_000_000).contains(&balance), "{balance}");
    assert_eq!(env.bank().balance(id).await.unwrap(), Money::from_paise(balance));
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    let env = TestEnv::new().await;
    env.bank().sign_up(sign_up("asha@example.com")).await.unwrap();
    let again = env.bank().sign_up(sign_up("ASHA@Example.com ")).await;
    assert!(matches!(again, Err(BankError::EmailTaken)), "{again:?}");
    assert_eq!(
        count(&env.db, "accounts", doc! { "userId": { "$ne": ISSUER } }).await,
        1
    );
}

#[tokio::test]
async fn concurrent_sign_ups_with_one_email_create_one_user() {
    let env = TestEnv::new().await;
    let results = join_all((0..5).map(|_| env.bank().sign_up(sign_up("same@example.com")))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, BankError::EmailTaken)));
    assert_eq!(count(&env.db, "users", doc! {}).await, 1);
    assert_eq!(
        count(&env.db, "accounts", doc! { "userId": { "$ne": ISSUER } }).await,
        1
    );
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn sign_up_refuses_bad_input_and_stores_nothing() {
    let env = TestEnv::new().await;
    let cases = [
        SignUp {
            username: "not-an-email".into(),
            ..sign_up("")
        },
        SignUp {
            first_name: "   ".into(),
            ..sign_up("a@example.com")
        },
        SignUp {
            last_name: "x".repeat(51),
            ..sign_up("a@example.com")
        },
        SignUp {
            password: "1234567".into(),
            ..sign_up("a@example.com")
        },
        SignUp {
            password: "p".repeat(129),
            ..sign_up("a@example.com")
        },
    ];
    for case in cases {
        let result = env.bank().sign_up(case.clone()).await;
        assert!(matches!(result, Err(BankError::Invalid { .. })), "{case:?}: {result:?}");
    }
    assert_eq!(count(&env.db, "users", doc! {}).await, 0);
}

#[tokio::test]
async fn sign_in_does_not_tell_unknown_users_from_wrong_passwords() {
    let env = TestEnv::new().await;
    let id = env.bank().sign_up(sign_up("asha@example.com")).await.unwrap();
    assert_eq!(
        env.bank()
            .sign_in(" ASHA@example.com", "correct horse battery")
            .await
            .unwrap(),
        id
    );
    let wrong = env.bank().sign_in("asha@example.com", "wrong horse battery").await;
    let unknown = env.bank().sign_in("nobody@example.com", "correct horse battery").await;
    assert!(matches!(wrong, Err(BankError::BadCredentials)));
    assert!(matches!(unknown, Err(BankError::BadCredentials)));
    // Both verify an argon2 hash: timing is of the same order, not a fast
    // "no such user". Compare medians of a few attempts.
    let mut samples: [Vec<std::time::Duration>; 2] = Default::default();
    for _ in 0..5 {
        for (i, email) in ["asha@example.com", "nobody@example.com"].into_iter().enumerate() {
            let t = Instant::now();
            let _ = env.bank().sign_in(email, "wrong horse battery").await;
            samples[i].push(t.elapsed());
        }
    }
    let median = |s: &mut Vec<std::time::Duration>| {
        s.sort();
        s[2]
    };
    let (known, unknown) = (median(&mut samples[0]), median(&mut samples[1]));
    assert!(
        unknown * 3 > known && known * 3 > unknown,
        "known {known:?} vs unknown {unknown:?}"
    );
}

#[tokio::test]
async fn seeded_users_sign_in_with_the_test_password() {
    // The harness's one precomputed hash is what the app's sign-in verifies.
    let env = TestEnv::new().await;
    let id = env.user("Asha", "Rao").await;
    let user = find(&env.db, "users", doc! { "_id": id }).await.unwrap();
    let email = user.get_str("username").unwrap();
    assert_eq!(env.bank().sign_in(email, PASSWORD).await.unwrap(), id);
    assert!(matches!(
        env.bank().sign_in(email, "wrong horse battery").await,
        Err(BankError::BadCredentials)
    ));
    let grant = env.bank().balance(id).await.unwrap();
    assert!((MIN_GRANT..=MAX_GRANT).contains(&grant), "{grant}");
}

#[tokio::test]
async fn profile_updates_names_and_password_only() {
    let env = TestEnv::new().await;
    let id = env.bank().sign_up(sign_up("asha@example.com")).await.unwrap();
    let balance = env.bank().balance(id).await.unwrap();
    let update = ProfileUpdate {
        current_password: Some(PASSWORD.into()),
        first_name: Some(" Asha Devi ".into()),
        last_name: None,
        password: Some("a brand new passphrase".into()),
    };
    env.bank().update_profile(id, update).await.unwrap();
    let me = env.bank().me(id).await.unwrap();
    assert_eq!((me.first_name.as_str(), me.last_name.as_str()), ("Asha Devi", "Rao"));
    assert_eq!(me.balance, balance);
    assert!(env
        .bank()
        .sign_in("asha@example.com", "correct horse battery")
        .await
        .is_err());
    assert_eq!(
        env.bank()
            .sign_in("asha@example.com", "a brand new passphrase")
            .await
            .unwrap(),
        id
    );
    // The search keys follow the new name.
    let other = env.user("Ravi", "Kumar").await;
    let found = env.bank().search(other, "asha devi r", 20).await.unwrap();
    assert_eq!(found.len(), 1);

    let bad = [
        ProfileUpdate::default(),
        ProfileUpdate {
            first_name: Some("".into()),
            ..Default::default()
        },
        ProfileUpdate {
            password: Some("short".into()),
            ..Default::default()
        },
    ];
    for update in bad {
        assert!(matches!(
            env.bank().update_profile(id, update).await,
            Err(BankError::Invalid { .. })
        ));
    }
}

#[tokio::test]
async fn search_matches_name_prefixes_literally_and_excludes_the_caller() {
    let env = TestEnv::new().await;
    let me = env.user("Asha", "Rao").await;
    let ravi = env.user("Ravi", "Kumar").await;
    let _rajesh = env.user("Rajesh", "Asharaf").await;
    let dotted = env.user("J.R.", "Tolkien").await;
    let _jxr = env.user("JxRx", "Martin").await;
    let names = |found: Vec<paisa::model::UserSummary>| found.into_iter().map(|u| u.full_name()).collect::<Vec<_>>();

    assert_eq!(
        names(env.bank().search(me, "ra", 20).await.unwrap()),
        ["Rajesh Asharaf", "Ravi Kumar"]
    );
    assert_eq!(names(env.bank().search(me, "KUM", 20).await.unwrap()), ["Ravi Kumar"]);
    assert_eq!(
        names(env.bank().search(me, "ravi k", 20).await.unwrap()),
        ["Ravi Kumar"]
    );
    // The caller is never listed, even when their own name matches.
    assert_eq!(
        names(env.bank().search(me, "asha", 20).await.unwrap()),
        ["Rajesh Asharaf"]
    );
    assert_eq!(
        names(env.bank().search(ravi, "asha", 20).await.unwrap()),
        ["Asha Rao", "Rajesh Asharaf"]
    );
    // Regex metacharacters are text, not patterns.
    assert_eq!(
        names(env.bank().search(me, "j.r.", 20).await.unwrap()),
        ["J.R. Tolkien"]
    );
    for pattern in [".*", "^", "j.*", "(", "[", "\\", "$where", "{\"$gt\": \"\"}"] {
        assert!(
            env.bank().search(me, pattern, 20).await.unwrap().is_empty(),
            "{pattern:?} matched"
        );
    }
    // No filter: everyone but the caller, by name.
    let all = env.bank().search(me, "", 20).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|u| u.id != me.to_hex()));
    assert!(env.bank().search(dotted, "", 2).await.unwrap().len() == 2);
}

#[tokio::test]
async fn search_returns_exactly_the_first_matches_by_full_name() {
    let env = TestEnv::new().await;
    let me = env.user("Me", "Self").await;
    // 30 match "ka" by last name, in the opposite order by full name:
    // "A29 Ka00", "A28 Ka01", … "A00 Ka29". 20 more by first name, all
    // after them by full name: "Ka00 Zed" … "Ka19 Zed".
    let by_last: Vec<(String, String)> = (0..30)
        .map(|i| (format!("A{:02}", 29 - i), format!("Ka{i:02}")))
        .collect();
    let by_first: Vec<(String, String)> = (0..20).map(|i| (format!("Ka{i:02}"), "Zed".to_owned())).collect();
    env.users(by_last.into_iter().chain(by_first)).await;
    let found: Vec<String> = env
        .bank()
        .search(me, "ka", 20)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.full_name())
        .collect();
    let expected: Vec<String> = (0..20).map(|n| format!("A{n:02} Ka{:02}", 29 - n)).collect();
    assert_eq!(found, expected);
    // Fewer asked: still the first ones.
    let first3 = env.bank().search(me, "KA", 3).await.unwrap();
    assert_eq!(
        first3.iter().map(|u| u.full_name()).collect::<Vec<_>>(),
        ["A00 Ka29", "A01 Ka28", "A02 Ka27"]
    );
}

/// A search asks the database for a bounded number of names, and each query
/// it sends is planned as an index scan: the queries checked are the ones the
/// bank really sent, recorded by the driver's command monitoring.
#[tokio::test]
async fn search_is_capped_and_served_by_an_index() {
    use mongodb::event::command::CommandEvent;
    use mongodb::event::EventHandler;
    use paisa::server::bank::passwords::Passwords;
    use paisa::server::bank::{Bank, SEARCH_LIMIT};
    use std::sync::{Arc, Mutex};

    let env = TestEnv::new().await;
    let me = env.user("Asha", "Rao").await;
    env.users((0..25).map(|i| (format!("Sam{i:02}"), "Shah"))).await;
    // A client that keeps every `find` it sends, and a bank on it that does
    // not follow the change stream: it always asks the database.
    let sent: Arc<Mutex<Vec<Document>>> = Arc::default();
    let mut options = mongodb::options::ClientOptions::parse(crate::common::server_uri())
        .await
        .unwrap();
    let keep = sent.clone();
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            if started.command_name == "find" {
                keep.lock().unwrap().push(started.command);
            }
        }
    }));
    let client = mongodb::Client::with_options(options).unwrap();
    let bank = Bank::new(client.clone(), &client.database(env.db.name()), Passwords::new(1));
    assert!(!bank.searches_from_memory());
    assert_eq!(bank.search(me, "sam", 100).await.unwrap().len(), SEARCH_LIMIT);
    let finds = std::mem::take(&mut *sent.lock().unwrap());
    assert!(!finds.is_empty(), "the search sent no find");
    for find in finds {
        assert_eq!(find.get_str("find"), Ok("users"), "{find}");
        let limit = find.get_i64("limit").or_else(|_| find.get_i32("limit").map(i64::from));
        assert!(
            limit.is_ok_and(|n| (1..=SEARCH_LIMIT as i64 + 1).contains(&n)),
            "not capped: {find}"
        );
        // The query as sent, without what belongs to the connection.
        let query: Document = find
            .iter()
            .filter(|(key, _)| !key.starts_with('$') && *key != "lsid")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let explain = env
            .db
            .run_command(doc! { "explain": query, "verbosity": "queryPlanner" })
            .await
            .unwrap();
        // The plan chosen, not the command it echoes.
        let plan = explain
            .get_document("queryPlanner")
            .and_then(|planner| planner.get_document("winningPlan"))
            .map(|plan| format!("{plan:?}"))
            .unwrap_or_else(|_| panic!("no winning plan: {explain}"));
        let field = find.get_document("filter").ok().and_then(|f| f.keys().next().cloned());
        assert!(
            plan.contains("IXSCAN") && !plan.contains("COLLSCAN") && field.is_some_and(|f| plan.contains(&f)),
            "not an index scan on the filtered field: {find}\n{plan}"
        );
    }
}

// ----- transfers ---------------------------------------------------------

#[tokio::test]
async fn a_transfer_moves_exact_paise_and_writes_one_ledger_entry() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, a, 10_000).await;
    set_balance(&env.db, b, 500).await;
    let amount = Money::parse_rupees("0.1").unwrap();
    let receipt = env.bank().transfer(a, &b.to_hex(), amount, None).await.unwrap();
    assert_eq!(receipt.balance, Money::from_paise(9_990));
    assert_eq!(env.bank().balance(b).await.unwrap(), Money::from_paise(510));
    let entries = ledger(&env).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].get_object_id("from").unwrap(), a);
    assert_eq!(entries[0].get_object_id("to").unwrap(), b);
    assert_eq!(entries[0].get_i64("amount").unwrap(), 10);
    assert_eq!(entries[0].get_object_id("_id").unwrap().to_hex(), receipt.transfer_id);
}

#[tokio::test]
async fn refused_transfers_move_nothing() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, a, 1_000).await;
    let before = balances(&env.db).await;
    let hundred = Money::from_paise(10_000);
    let one = Money::from_paise(100);
    type Expect = fn(&BankError) -> bool;
    let cases: [(String, Money, Expect); 7] = [
        (b.to_hex(), hundred, |e| matches!(e, BankError::InsufficientBalance)),
        // No such recipient is the answer even when the balance is short too.
        (ObjectId::new().to_hex(), hundred, |e| {
            matches!(e, BankError::InvalidAccount)
        }),
        (a.to_hex(), one, |e| matches!(e, BankError::InvalidAccount)),
        ("not-an-id".into(), one, |e| matches!(e, BankError::InvalidAccount)),
        (ObjectId::new().to_hex(), one, |e| {
            matches!(e, BankError::InvalidAccount)
        }),
        (b.to_hex(), Money::ZERO, |e| matches!(e, BankError::Amount(_))),
        (b.to_hex(), Money::from_paise(-100), |e| {
            matches!(e, BankError::Amount(_))
        }),
    ];
    for (i, (to, amount, expected)) in cases.into_iter().enumerate() {
        let result = env.bank().transfer(a, &to, amount, None).await;
        assert!(result.as_ref().is_err_and(expected), "{to} {amount}: {result:?}");
        // With a key, the same refusal; only an insufficient balance is an
        // outcome worth keeping for the key.
        let key = format!("refused-{i}");
        let keyed = env.bank().transfer(a, &to, amount, Some(&key)).await;
        assert!(keyed.as_ref().is_err_and(expected), "{to} {amount} keyed: {keyed:?}");
    }
    assert_eq!(balances(&env.db).await, before);
    assert!(ledger(&env).await.is_empty());
    let kept = count(&env.db, "idempotencyKeys", doc! {}).await;
    assert_eq!(kept, 1, "only the insufficient-balance refusal keeps its key");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_outcome() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, a, 1_000).await;
    let amount = Money::from_paise(600);
    let first = env
        .bank()
        .transfer(a, &b.to_hex(), amount, Some("key-1"))
        .await
        .unwrap();
    let again = env
        .bank()
        .transfer(a, &b.to_hex(), amount, Some("key-1"))
        .await
        .unwrap();
    assert_eq!(first.transfer_id, again.transfer_id);
    assert_eq!(env.bank().balance(a).await.unwrap(), Money::from_paise(400));
    assert_eq!(ledger(&env).await.len(), 1);

    // The same key for another amount or recipient is refused, moving nothing.
    let other = env.user("Mira", "Nair").await;
    let changed = env
        .bank()
        .transfer(a, &b.to_hex(), Money::from_paise(1), Some("key-1"))
        .await;
    assert!(matches!(changed, Err(BankError::IdempotencyMismatch)), "{changed:?}");
    let redirected = env.bank().transfer(a, &other.to_hex(), amount, Some("key-1")).await;
    assert!(
        matches!(redirected, Err(BankError::IdempotencyMismatch)),
        "{redirected:?}"
    );

    // A refusal is an outcome too: it stays refused after a top-up.
    let refused = env.bank().transfer(a, &b.to_hex(), amount, Some("key-2")).await;
    assert!(matches!(refused, Err(BankError::InsufficientBalance)));
    set_balance(&env.db, a, 100_000).await;
    let replay = env.bank().transfer(a, &b.to_hex(), amount, Some("key-2")).await;
    assert!(matches!(replay, Err(BankError::InsufficientBalance)), "{replay:?}");
    assert_eq!(env.bank().balance(a).await.unwrap(), Money::from_paise(100_000));
    // Keys belong to their sender: another sender may use the same one.
    set_balance(&env.db, b, 1_000).await;
    env.bank()
        .transfer(b, &a.to_hex(), amount, Some("key-1"))
        .await
        .unwrap();
    assert_eq!(ledger(&env).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_ten_times_at_once_moves_money_once() {
    let env = TestEnv::new().await;
    let (a, b) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, a, 10_000).await;
    set_balance(&env.db, b, 0).await;
    let to = b.to_hex();
    let results = join_all((0..10).map(|_| {
        env.bank()
            .transfer(a, &to, Money::from_paise(2_500), Some("double-click"))
    }))
    .await;
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .expect("every caller told of the success")
                .transfer_id
                .clone()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(ledger(&env).await.len(), 1);
    assert_eq!(env.bank().balance(a).await.unwrap(), Money::from_paise(7_500));
    assert_eq!(env.bank().balance(b).await.unwrap(), Money::from_paise(2_500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_concurrent_transfers_conserve_money() {
    const ACCOUNTS: usize = 20;
    const TRANSFERS: usize = 500;
    let env = TestEnv::new().await;
    // All 500 are queued at once on a test database that commits ~50 a
    // second: give each the patience of the whole run, so every transfer
    // reaches an outcome rather than "busy".
    let patience = std::time::Duration::from_secs(120);
    // Two app instances, each sending half: they conflict in the database
    // and must retry; within one instance, transfers take turns per account.
    let instances = [
        env.bank().clone().with_txn_time_limit(patience),
        env.other_instance().with_txn_time_limit(patience),
    ];
    let users = env.users((0..ACCOUNTS).map(|i| (format!("User{i:02}"), "Load"))).await;
    for u in &users {
        set_balance(&env.db, *u, 5_000).await;
    }
    let start_total: i64 = balances(&env.db).await.values().sum();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let plan: Vec<(ObjectId, ObjectId, Money)> = (0..TRANSFERS)
        .map(|_| {
            let from = rng.gen_range(0..ACCOUNTS);
            let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
            (users[from], users[to], Money::from_paise(rng.gen_range(1..=3_000)))
        })
        .collect();
    let started = Instant::now();
    let results = join_all(plan.iter().enumerate().map(|(i, (from, to, amount))| {
        let bank = instances[i % 2].clone();
        let (from, to, amount) = (*from, to.to_hex(), *amount);
        tokio::spawn(async move { bank.transfer(from, &to, amount, None).await })
    }))
    .await;
    let elapsed = started.elapsed();
    let retries: u64 = instances
        .iter()
        .map(|b| b.stats().retries.load(Ordering::Relaxed))
        .sum();

    let mut ok = 0;
    let mut insufficient = 0;
    for r in results {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(BankError::InsufficientBalance) => insufficient += 1,
            Err(e) => panic!("unexpected outcome: {e:?}"),
        }
    }
    let after = balances(&env.db).await;
    assert_eq!(after.values().sum::<i64>(), start_total, "money created or destroyed");
    assert!(after.values().all(|b| *b >= 0), "negative balance: {after:?}");
    let entries = ledger(&env).await;
    assert_eq!(entries.len(), ok, "ledger entries != successful transfers");
    // Each balance = grant + credits − debits, from the ledger alone.
    let mut expected: HashMap<ObjectId, i64> = users.iter().map(|u| (*u, 5_000)).collect();
    for e in &entries {
        let amount = e.get_i64("amount").unwrap();
        *expected.get_mut(&e.get_object_id("from").unwrap()).unwrap() -= amount;
        *expected.get_mut(&e.get_object_id("to").unwrap()).unwrap() += amount;
    }
    assert_eq!(after, expected);
    println!(
        "random transfers: {TRANSFERS} among {ACCOUNTS} accounts: {ok} succeeded, {insufficient} insufficient, \
         {retries} transaction retries, {:.2}s ({:.0}/s)",
        elapsed.as_secs_f64(),
        TRANSFERS as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_senders_to_one_recipient_all_arrive() {
    let env = TestEnv::new().await;
    let recipient = env.user("Hot", "Recipient").await;
    set_balance(&env.db, recipient, 0).await;
    let senders = env.users((0..50).map(|i| (format!("Sender{i:02}"), "Crowd"))).await;
    for s in &senders {
        set_balance(&env.db, *s, 1_000).await;
    }
    let instances = [env.bank().clone(), env.other_instance()];
    let started = Instant::now();
    let to = recipient.to_hex();
    let results = join_all(senders.iter().enumerate().map(|(i, s)| {
        let bank = instances[i % 2].clone();
        let (s, to) = (*s, to.clone());
        tokio::spawn(async move { bank.transfer(s, &to, Money::from_paise(700), None).await })
    }))
    .await;
    for r in results {
        r.unwrap().expect("every sender can afford it");
    }
    assert_eq!(
        env.bank().balance(recipient).await.unwrap(),
        Money::from_paise(50 * 700)
    );
    assert_eq!(ledger(&env).await.len(), 50);
    println!(
        "hot recipient: 50 concurrent senders over 2 instances, {} retries, {:.2}s",
        instances
            .iter()
            .map(|b| b.stats().retries.load(Ordering::Relaxed))
            .sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_funded_for_n_debits_allows_exactly_n_of_2n() {
    const N: i64 = 15;
    let env = TestEnv::new().await;
    let (payer, payee) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    set_balance(&env.db, payer, N * 250).await;
    let to = payee.to_hex();
    let results = join_all((0..2 * N).map(|_| {
        let bank = env.bank().clone();
        let to = to.clone();
        tokio::spawn(async move { bank.transfer(payer, &to, Money::from_paise(250), None).await })
    }))
    .await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count() as i64, N);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, BankError::InsufficientBalance)));
    assert_eq!(env.bank().balance(payer).await.unwrap(), Money::ZERO);
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn history_is_newest_first_and_paged() {
    let env = TestEnv::new().await;
    let (a, b, c) = (
        env.user("Asha", "Rao").await,
        env.user("Ravi", "Kumar").await,
        env.user("Mira", "Nair").await,
    );
    for u in [a, b, c] {
        set_balance(&env.db, u, 100_000).await;
    }
    // a→b 1, b→a 2, a→c 3, c→a 4, a→b 5 (rupees)
    for (from, to, rupees) in [(a, b, 1), (b, a, 2), (a, c, 3), (c, a, 4), (a, b, 5)] {
        env.bank()
            .transfer(from, &to.to_hex(), Money::from_paise(rupees * 100), None)
            .await
            .unwrap();
    }
    let page1 = env.bank().history(a, 2, None).await.unwrap();
    let amounts = |p: &paisa::model::HistoryPage| p.entries.iter().map(|e| e.amount.paise() / 100).collect::<Vec<_>>();
    assert_eq!(amounts(&page1), [5, 4]);
    assert_eq!(page1.entries[0].direction, Direction::Sent);
    assert_eq!(page1.entries[0].counterparty.as_ref().unwrap().first_name, "Ravi");
    assert_eq!(page1.entries[1].direction, Direction::Received);
    assert_eq!(page1.entries[1].counterparty.as_ref().unwrap().first_name, "Mira");
    let page2 = env.bank().history(a, 2, page1.next.as_deref()).await.unwrap();
    assert_eq!(amounts(&page2), [3, 2]);
    let page3 = env.bank().history(a, 2, page2.next.as_deref()).await.unwrap();
    assert_eq!(amounts(&page3)[0], 1);
    // Then the balance set above (an opening entry), and first of all the
    // welcome grant: both from Paisa itself, with no counterparty.
    assert_eq!(page3.entries[1].kind, EntryKind::Opening);
    let page4 = env.bank().history(a, 2, page3.next.as_deref()).await.unwrap();
    assert_eq!(page4.entries.len(), 1);
    assert_eq!(page4.entries[0].kind, EntryKind::Grant);
    assert_eq!(page4.entries[0].direction, Direction::Received);
    assert_eq!(page4.entries[0].counterparty, None);
    assert_eq!(page4.next, None);
    // b sees only their own three transfers.
    let transfers = |p: paisa::model::HistoryPage| {
        p.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Transfer)
            .map(|e| e.amount.paise() / 100)
            .collect::<Vec<_>>()
    };
    assert_eq!(transfers(env.bank().history(b, 20, None).await.unwrap()), [5, 2, 1]);
    assert!(matches!(
        env.bank().history(a, 2, Some("junk")).await,
        Err(BankError::Invalid { .. })
    ));
    assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn recent_people_are_the_last_five_paid_or_paying_most_recent_first() {
    let env = TestEnv::new().await;
    let me = env.user("Asha", "Rao").await;
    let others = env.users((0..7).map(|i| (format!("Friend{i}"), "Shah"))).await;
    set_balance(&env.db, me, 100_000).await;
    let bank = env.bank();
    assert_eq!(
        bank.recent_people(me, 5).await.unwrap(),
        vec![],
        "a welcome balance is nobody"
    );
    // Paid friends 0..5 in order, then friend 1 again, then friend 6 pays me.
    for i in [0, 1, 2, 3, 4, 5, 1] {
        bank.transfer(me, &others[i].to_hex(), Money::from_paise(100), None)
            .await
            .unwrap();
    }
    bank.transfer(others[6], &me.to_hex(), Money::from_paise(50), None)
        .await
        .unwrap();
    let recent: Vec<String> = bank
        .recent_people(me, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.first_name)
        .collect();
    assert_eq!(recent, ["Friend6", "Friend1", "Friend5", "Friend4", "Friend3"]);
    let them = bank.recent_people(others[6], 5).await.unwrap();
    assert_eq!(them.len(), 1);
    assert_eq!((them[0].first_name.as_str(), them[0].hint.is_empty()), ("Asha", false));
}
