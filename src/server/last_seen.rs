//! Sessions' "last seen", to the minute, at a fraction of a write per
//! request. A request notes its session at most once a minute
//! (`session_store.rs`); what is noted is stored every few seconds in one
//! of two ways:
//!
//! - **the log** (`sessionsSeen`): one document per flush naming every
//!   session seen since the last, `{at, sessions: [...]}`. One insert for
//!   a thousand sessions: on the embedded database a hundred sessions cost
//!   one insert's ~3 ms, where a hundred updates of their own documents cost
//!   ~50 ms (measured with Paisa's change streams open);
//! - **the session's own `lastSeenAt`** ("folded"): at most once per
//!   [`FOLD_EVERY`] per session, with the latest time the log has for it,
//!   also when it has since gone idle. So a session's log entries after
//!   its own time number at most one a minute for [`FOLD_EVERY`], and a log
//!   document is needed only until then: it expires after [`LOG_KEPT`].
//!
//! Reading ([`LastSeen::latest`]) takes the later of the session's own
//! time and its newest log entry. An instance that stops loses only what
//! it had not folded yet: those sessions show a time up to [`FOLD_EVERY`]
//! older once their log entries expire.
//!
//! A write per request instead (the first version) let a busy minute queue
//! thousands of writes on the database; writing each session's own
//! document once a minute (the second) cost a balance read half its rate
//! when every request was due one.

use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The log's collection.
pub const SEEN: &str = "sessionsSeen";
/// How often noted sessions are stored: "last seen" is for people, to the
/// minute, so a few seconds late is still on time.
const STORE_EVERY: Duration = Duration::from_secs(5);
/// How often, at most, a session's own document is written.
pub const FOLD_EVERY: Duration = Duration::from_secs(15 * 60);
/// How long a log document is kept: until every session in it has been
/// folded, with room for a slow flush and the TTL monitor's minute.
const LOG_KEPT: Duration = Duration::from_secs(20 * 60);
/// How long one command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);
/// Sessions one fold command changes: the embedded database runs one
/// command at a time, and a thousand updates took a quarter of a second (on
/// an idle database), holding everything queued behind them; a hundred
/// take ~25 ms.
const FOLDS_PER_COMMAND: usize = 100;
/// Sessions one log document names (12 bytes each).
const PER_LOG_DOCUMENT: usize = 1000;
/// Sessions waiting for each kind of write, at most; past it, a session's
/// "last seen" waits for its next request a minute on (memory stays
/// bounded when the database is slower than the requests).
const MOST_PENDING: usize = 100_000;

pub struct LastSeen {
    db: Database,
    sessions: String,
    log: Collection<Document>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Sessions to write into their own documents, with the time (ms).
    folds: HashMap<ObjectId, i64>,
    /// Sessions seen since the last flush, for the log.
    logged: Vec<ObjectId>,
    /// Sessions in the log but not folded: their own stored time and the
    /// latest logged (ms).
    unfolded: HashMap<ObjectId, (i64, i64)>,
}

impl LastSeen {
    pub fn new(db: &Database, sessions: &str) -> LastSeen {
        LastSeen {
            db: db.clone(),
            sessions: sessions.to_owned(),
            log: db.collection(SEEN),
            pending: Mutex::default(),
        }
    }

    /// Notes that `session`, whose own document says it was last seen at
    /// `stored`, was seen at `now` (ms). Returns whether this folds it
    /// (its own document will say `now`).
    pub fn note(&self, session: ObjectId, stored: i64, now: i64) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if now - stored >= FOLD_EVERY.as_millis() as i64 {
            pending.unfolded.remove(&session);
            if pending.folds.len() < MOST_PENDING || pending.folds.contains_key(&session) {
                pending.folds.insert(session, now);
            }
            return true;
        }
        if pending.logged.len() < MOST_PENDING {
            pending.logged.push(session);
        }
        if pending.unfolded.len() < MOST_PENDING || pending.unfolded.contains_key(&session) {
            pending.unfolded.insert(session, (stored, now));
        }
        false
    }

    /// When `session` was last seen (ms): the later of its own stored time
    /// and its newest log entry.
    pub async fn latest(&self, session: ObjectId, stored: i64) -> mongodb::error::Result<i64> {
        let newest = self
            .log
            .find_one(doc! { "sessions": session })
            .sort(doc! { "at": -1 })
            .projection(doc! { "at": 1, "_id": 0 })
            .await?;
        let logged = newest.and_then(|d| d.get_datetime("at").ok().map(|at| at.timestamp_millis()));
        Ok(logged.map_or(stored, |at| at.max(stored)))
    }

    /// [`LastSeen::latest`] of several sessions, in their order.
    pub async fn latest_of(&self, sessions: &[(ObjectId, i64)]) -> mongodb::error::Result<Vec<i64>> {
        futures::stream::iter(sessions.to_vec())
            .map(|(session, stored)| self.latest(session, stored))
            .buffered(8)
            .try_collect()
            .await
    }

    /// Stores what is noted, every [`STORE_EVERY`], for as long as the
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

    /// The log first (one insert), then the folds: those noted, and those
    /// logged whose own time is [`FOLD_EVERY`] old (gone idle since).
    async fn store(&self) {
        let now = DateTime::now();
        let (logged, folds) = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let due = now.timestamp_millis() - FOLD_EVERY.as_millis() as i64;
            let idle: Vec<(ObjectId, i64)> = pending
                .unfolded
                .iter()
                .filter(|(_, (stored, _))| *stored <= due)
                .map(|(session, (_, latest))| (*session, *latest))
                .collect();
            for (session, latest) in idle {
                pending.unfolded.remove(&session);
                pending.folds.entry(session).or_insert(latest);
            }
            (std::mem::take(&mut pending.logged), std::mem::take(&mut pending.folds))
        };
        self.log(&logged, now).await;
        self.fold(folds.into_iter().collect()).await;
    }

    async fn log(&self, logged: &[ObjectId], at: DateTime) {
        if logged.is_empty() {
            return;
        }
        let expires = DateTime::from_millis(at.timestamp_millis() + LOG_KEPT.as_millis() as i64);
        let documents: Vec<Document> = logged
            .chunks(PER_LOG_DOCUMENT)
            .map(|chunk| doc! { "at": at, "sessions": chunk, "expiresAt": expires })
            .collect();
        let inserted = self.log.insert_many(documents).ordered(false);
        report(tokio::time::timeout(COMMAND_LIMIT, inserted).await, logged.len());
    }

    /// One unordered `update` command per hundred sessions, each found by
    /// `_id` and never moved back in time; a session that has since ended
    /// is set all the same (harmless: it is refused by its `revoked` or
    /// `expiresAt`).
    async fn fold(&self, folds: Vec<(ObjectId, i64)>) {
        for chunk in folds.chunks(FOLDS_PER_COMMAND) {
            let updates: Vec<Document> = chunk
                .iter()
                .map(|(id, seen)| {
                    doc! { "q": { "_id": id }, "u": { "$max": { "lastSeenAt": DateTime::from_millis(*seen) } } }
                })
                .collect();
            let command = doc! { "update": &self.sessions, "updates": updates, "ordered": false };
            // Bounded: a database that stops answering must not hold every
            // later batch (what is noted meanwhile stays bounded too).
            report(
                tokio::time::timeout(COMMAND_LIMIT, self.db.run_command(command)).await,
                chunk.len(),
            );
        }
    }
}

/// Last seen is best effort: a failed write is logged, not retried (the
/// session's next request a minute on notes it again).
fn report<T>(outcome: Result<mongodb::error::Result<T>, tokio::time::error::Elapsed>, sessions: usize) {
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, sessions, "last seen not stored"),
        Err(_) => tracing::debug!(sessions, "last seen not stored in time"),
    }
}

/// The log's indexes: a session's newest entry first, and expiry.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    let expire = IndexOptions::builder().expire_after(Duration::ZERO).build();
    db.collection::<Document>(SEEN)
        .create_indexes([
            IndexModel::builder().keys(doc! { "sessions": 1, "at": -1 }).build(),
            IndexModel::builder()
                .keys(doc! { "expiresAt": 1 })
                .options(expire)
                .build(),
        ])
        .await?;
    Ok(())
}
