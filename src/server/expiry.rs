//! Documents that end at a time they carry: sessions, the "last seen" log,
//! idempotency records, the heartbeats of instances long stopped. Every read of them checks that time, so removing
//! them is housekeeping: each instance removes what has expired once a
//! minute ([`sweep`]), found through an ordinary index on the time and
//! removed by id, a hundred per statement.
//!
//! Not a TTL index: SecantusDB's TTL monitor decodes every document of each
//! collection that has one, once a minute, holding its storage lock all
//! the while. Measured: at 100,000 sessions, every request to the database
//! waited 1.1 s once a minute. This range read costs nothing while nothing
//! has expired, on SecantusDB and on MongoDB alike.

use crate::server::auth::sessions::last_seen::SEEN;
use crate::server::auth::sessions::SESSIONS;
use crate::server::bank::store::IDEMPOTENCY;
use crate::server::bank::store::KEY_LIFETIME;
use crate::server::changes::HEARTBEATS;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use std::time::Duration;

/// A collection whose documents end `lifetime` after the date in `field`.
struct Expiring {
    collection: &'static str,
    field: &'static str,
    lifetime: Duration,
}

/// Everything that expires.
const EXPIRING: [Expiring; 4] = [
    Expiring {
        collection: SESSIONS,
        field: "expiresAt",
        lifetime: Duration::ZERO,
    },
    Expiring {
        collection: SEEN,
        field: "expiresAt",
        lifetime: Duration::ZERO,
    },
    Expiring {
        collection: IDEMPOTENCY,
        field: "createdAt",
        lifetime: KEY_LIFETIME,
    },
    // An instance that stopped a day ago is not coming back under its id.
    Expiring {
        collection: HEARTBEATS,
        field: "beatAt",
        lifetime: Duration::from_secs(24 * 3600),
    },
];

/// How often expired documents are removed (MongoDB's TTL monitor's pace).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Expired documents of a collection one sweep removes at most; the rest
/// go in the next sweeps. SecantusDB reads every expired document before
/// a limit (1.8 s with 100,000 expired at once, as after a mass sign-in a
/// day earlier), so that costs one such read a minute until they are gone.
const SWEEP_MAX: i64 = 10_000;
/// Documents removed per statement, each found by `_id` (SecantusDB:
/// 0.3 s for 500; by the time range it read every expired document
/// again, 50 s for 500 of 100,000), so no statement holds it for long.
const BATCH: usize = 100;

/// The index each sweep reads, and no TTL index: those an earlier release
/// made are dropped. The key holds `_id` too, so an earlier release, which
/// creates its TTL index on the time alone, still starts beside it.
/// Idempotent.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    for expiring in &EXPIRING {
        let collection = db.collection::<Document>(expiring.collection);
        collection
            .create_index(IndexModel::builder().keys(doc! { expiring.field: 1, "_id": 1 }).build())
            .await?;
        let ttl: Vec<String> = collection
            .list_indexes()
            .await?
            .try_collect::<Vec<IndexModel>>()
            .await?
            .into_iter()
            .filter_map(|index| index.options)
            .filter(|options| options.expire_after.is_some())
            .filter_map(|options: IndexOptions| options.name)
            .collect();
        for name in ttl {
            crate::server::db::drop_old_index(&collection, &name).await;
        }
    }
    Ok(())
}

/// Removes what has expired by `now` (up to [`SWEEP_MAX`] of each
/// collection); how many.
pub async fn sweep(db: &Database, now: DateTime) -> mongodb::error::Result<u64> {
    let mut removed = 0;
    for expiring in &EXPIRING {
        let collection = db.collection::<Document>(expiring.collection);
        let cutoff = DateTime::from_millis(now.timestamp_millis() - expiring.lifetime.as_millis() as i64);
        // Older than the cutoff, as a TTL index would have it.
        let expired = doc! { expiring.field: { "$lt": cutoff } };
        let ids: Vec<Bson> = collection
            .find(expired)
            .projection(doc! { "_id": 1 })
            .limit(SWEEP_MAX)
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .into_iter()
            .filter_map(|mut found| found.remove("_id"))
            .collect();
        for batch in ids.chunks(BATCH) {
            // By id first; still expired when removed (an idempotency
            // key's record can be made afresh under the same id meanwhile).
            let these = doc! { "_id": { "$in": batch }, expiring.field: { "$lt": cutoff } };
            removed += collection.delete_many(these).await?.deleted_count;
        }
    }
    Ok(removed)
}

/// Sweeps every [`SWEEP_EVERY`] until aborted; a failed sweep is tried
/// again at the next.
pub fn sweep_every_minute(db: Database) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match sweep(&db, DateTime::now()).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "expired documents removed"),
                Err(e) => tracing::warn!(error = %e, "expired documents not removed; trying again in a minute"),
            }
        }
    })
}
