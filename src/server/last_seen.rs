//! Sessions' "last seen", stored in batches. A request only notes its
//! session (at most once a minute per session, `session_store.rs`); every
//! few seconds one task writes what was noted, a hundred sessions to a
//! command, one command at a time. A write per request instead (the first
//! version) let a busy minute queue thousands of writes on the database:
//! 2,000 requests/s from 100,000 users is 2,000 writes/s, more than the
//! embedded database does, and memory and latency grew until requests
//! timed out.

use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::Database;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often noted sessions are written: "last seen" is for people, to the
/// minute, so a few seconds late is still on time.
const STORE_EVERY: Duration = Duration::from_secs(5);
/// How long one command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);
/// Sessions one `update` command changes: the embedded database runs one
/// command at a time, and a thousand took a quarter of a second (on an idle
/// database), holding everything queued behind them; a hundred take ~25 ms.
const PER_COMMAND: usize = 100;
/// Sessions noted between two writes, at most; past it, a session's
/// "last seen" waits for its next request a minute on (memory stays bounded
/// when the database is slower than the requests).
const MOST_PENDING: usize = 100_000;

pub struct LastSeen {
    db: Database,
    collection: String,
    pending: Mutex<Vec<ObjectId>>,
}

impl LastSeen {
    pub fn new(db: &Database, collection: &str) -> LastSeen {
        LastSeen {
            db: db.clone(),
            collection: collection.to_owned(),
            pending: Mutex::default(),
        }
    }

    /// Notes that `session` was seen now; written within [`STORE_EVERY`].
    pub fn note(&self, session: ObjectId) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() < MOST_PENDING {
            pending.push(session);
        }
    }

    /// Writes what is noted, every [`STORE_EVERY`], for as long as the
    /// process runs.
    pub fn store_in_batches(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(STORE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                self.store().await;
            }
        })
    }

    /// One unordered `update` command per hundred noted sessions, each
    /// found by `_id`; a session that has since ended is set all the same
    /// (harmless: it is refused by its `revoked` or `expiresAt`).
    async fn store(&self) {
        let noted = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let seen = DateTime::now();
        for chunk in noted.chunks(PER_COMMAND) {
            let updates: Vec<Document> = chunk
                .iter()
                .map(|id| doc! { "q": { "_id": id }, "u": { "$set": { "lastSeenAt": seen } } })
                .collect();
            let command = doc! { "update": &self.collection, "updates": updates, "ordered": false };
            // Bounded: a database that stops answering must not hold every
            // later batch (what is noted meanwhile stays bounded too).
            match tokio::time::timeout(COMMAND_LIMIT, self.db.run_command(command)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, sessions = chunk.len(), "last seen not stored"),
                Err(_) => tracing::debug!(sessions = chunk.len(), "last seen not stored in time"),
            }
        }
    }
}
