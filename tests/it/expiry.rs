//! What expires is removed by each instance's sweep (`server/expiry.rs`),
//! not by TTL indexes, and nothing else is.

use crate::common::db::{count, docs};
use crate::common::TestEnv;
use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use paisa::money::Money;
use paisa::server::auth::sessions::SessionStore;
use paisa::server::bank::store::KEY_LIFETIME;
use paisa::server::changes::Trust;
use paisa::server::expiry;
use std::time::Duration;

#[tokio::test]
async fn a_sweep_removes_what_has_expired_and_nothing_else() {
    let env = TestEnv::new().await;
    let [a, b] = env.users([("Asha", "Rao"), ("Bala", "Iyer")]).await[..] else {
        unreachable!()
    };
    // 600 sessions already over (more than one statement removes), and one
    // that is not.
    let over = SessionStore::new(&env.db, Duration::from_millis(1), Trust::never());
    over.open_many(&vec![a; 600], &Default::default()).await.unwrap();
    let live = env.state.sessions.open(a, &Default::default()).await.unwrap();
    // An idempotency record past a key's lifetime, and one made now.
    let old = DateTime::from_millis(DateTime::now().timestamp_millis() - KEY_LIFETIME.as_millis() as i64 - 60_000);
    env.db
        .collection::<Document>("idempotencyKeys")
        .insert_one(doc! { "_id": format!("{a}/old-key"), "from": a, "key": "old-key", "to": b, "amount": 100_i64, "createdAt": old })
        .await
        .unwrap();
    env.bank()
        .transfer(a, &b.to_hex(), Money::from_paise(100), Some("fresh-key"))
        .await
        .unwrap();
    // The "last seen" log: one entry over, one not.
    let seen = env.db.collection::<Document>("sessionsSeen");
    let soon = DateTime::from_millis(DateTime::now().timestamp_millis() + 600_000);
    seen.insert_many([
        doc! { "at": old, "sessions": [live], "expiresAt": old },
        doc! { "at": DateTime::now(), "sessions": [live], "expiresAt": soon },
    ])
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let removed = expiry::sweep(&env.db, DateTime::now()).await.unwrap();

    assert_eq!(removed, 600 + 1 + 1);
    let sessions = docs(&env.db, "sessions").await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].get_object_id("_id").unwrap(), live);
    let keys = docs(&env.db, "idempotencyKeys").await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].get_str("key").unwrap(), "fresh-key");
    assert_eq!(count(&env.db, "sessionsSeen", doc! { "expiresAt": soon }).await, 1);
    assert_eq!(count(&env.db, "sessionsSeen", doc! {}).await, 1);
    // Nothing more has expired: a second sweep removes nothing.
    assert_eq!(expiry::sweep(&env.db, DateTime::now()).await.unwrap(), 0);
}

/// The TTL indexes an earlier release made are dropped at start; that
/// release can still make them again beside this one's (a rollback starts).
#[tokio::test]
async fn ttl_indexes_are_dropped_and_an_earlier_release_still_starts() {
    let env = TestEnv::new().await;
    let ttl = |field: &str, after: Duration| {
        IndexModel::builder()
            .keys(doc! { field: 1 })
            .options(IndexOptions::builder().expire_after(after).build())
            .build()
    };
    let earlier = [
        ("sessions", ttl("expiresAt", Duration::ZERO)),
        ("sessionsSeen", ttl("expiresAt", Duration::ZERO)),
        ("idempotencyKeys", ttl("createdAt", KEY_LIFETIME)),
    ];
    for (collection, index) in earlier.clone() {
        env.db
            .collection::<Document>(collection)
            .create_index(index)
            .await
            .unwrap();
    }

    paisa::server::start::ensure_indexes(&env.db).await.unwrap();

    for (collection, _) in &earlier {
        let indexes: Vec<IndexModel> = env
            .db
            .collection::<Document>(collection)
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let expiring: Vec<_> = indexes
            .iter()
            .filter(|i| i.options.as_ref().is_some_and(|o| o.expire_after.is_some()))
            .collect();
        assert!(expiring.is_empty(), "{collection} keeps a TTL index: {expiring:?}");
        let field = if *collection == "idempotencyKeys" {
            "createdAt"
        } else {
            "expiresAt"
        };
        assert!(
            indexes.iter().any(|i| i.keys == doc! { field: 1, "_id": 1 }),
            "{collection} has no index for the sweep: {indexes:?}"
        );
    }
    // A rollback: the earlier release makes its TTL indexes again at start.
    for (collection, index) in earlier {
        env.db
            .collection::<Document>(collection)
            .create_index(index)
            .await
            .unwrap();
    }
}

/// A served instance removes what has expired without being asked: at
/// once, then every minute.
#[tokio::test]
async fn a_served_instance_sweeps_by_itself() {
    let env = TestEnv::new().await;
    let asha = env.user("Asha", "Rao").await;
    let over = SessionStore::new(&env.db, Duration::from_millis(1), Trust::never());
    over.open_many(&[asha, asha], &Default::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(count(&env.db, "sessions", doc! {}).await, 2);
    let _served = env.serve().await;
    let began = std::time::Instant::now();
    while count(&env.db, "sessions", doc! {}).await > 0 {
        assert!(began.elapsed() < Duration::from_secs(5), "expired sessions left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
