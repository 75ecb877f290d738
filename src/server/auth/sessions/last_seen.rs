//! Sessions' "last seen", to the minute, at a fraction of a write per
//! request. A request notes its session at most once a minute
//! (`session_store.rs`); every few seconds what was noted is stored:
//!
//! - **in the log** (`sessionsSeen`): one document per flush naming the
//!   sessions seen since the last, `{at, sessions: [...]}`. A hundred
//!   sessions in one insert cost the embedded database ~3 ms; a hundred
//!   updates of their own documents ~50 ms (measured with Paisa's change
//!   streams open). Requests only ever cost this;
//! - **in the session's own `lastSeenAt`** ("folded"), with the latest
//!   time logged: once it has been idle for [`IDLE_FOLD`], and every
//!   [`ACTIVE_FOLD`] while it stays active. So a visit costs its session
//!   one write, at its end, however many requests it made; and a log
//!   document is needed only until its sessions are folded or seen again:
//!   it expires after [`LOG_KEPT`].
//!
//! Reading ([`LastSeen::latest_of`]) takes the later of the session's own
//! time and its newest log entry. An instance that stops folds everything
//! it follows first; one that crashes loses what it had not folded: once
//! their log entries expire, those sessions show the time their own
//! documents had (from before the visit, or its last hourly fold). Each
//! instance that served a visit folds it once.
//!
//! Why batches: a write per request lets a busy minute queue thousands of
//! writes on the database, and even a write of the session's own document
//! per minute halves the rate of balance reads when every request is due
//! one (measured; docs/ARCHITECTURE.md).

use futures::StreamExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::{Collection, Database, IndexModel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The log's collection.
pub const SEEN: &str = "sessionsSeen";
/// How often noted sessions are stored: "last seen" is for people, to the
/// minute, so a few seconds late is still on time.
const STORE_EVERY: Duration = Duration::from_secs(5);
/// A session not seen for this long has its latest time written into its
/// own document.
pub const IDLE_FOLD: Duration = Duration::from_secs(10 * 60);
/// A session seen all along has its own document written this often.
pub const ACTIVE_FOLD: Duration = Duration::from_secs(60 * 60);
/// How long a log document is kept: past [`IDLE_FOLD`], with room for a
/// slow flush (removal runs once a minute: `expiry.rs`).
const LOG_KEPT: Duration = Duration::from_secs(15 * 60);
/// How long one command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);
/// Sessions one fold command changes: the embedded database runs one
/// command at a time, and a thousand updates took a quarter of a second (on
/// an idle database), holding everything queued behind them; a hundred
/// take ~25 ms.
const FOLDS_PER_COMMAND: usize = 100;
/// Sessions one log document names (12 bytes each): a session's newest
/// entry is read with its whole document.
const PER_LOG_DOCUMENT: usize = 100;
/// Sessions waiting to be logged, and sessions followed until folded, at
/// most. Past the first, a session's "last seen" waits for its next
/// request a minute on; past the second, a session seen here is logged
/// but not folded (its own time stays older once its log expires).
const MOST_PENDING: usize = 200_000;

pub struct LastSeen {
    db: Database,
    sessions: String,
    log: Collection<Document>,
    folds: (Duration, Duration),
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Sessions seen since the last flush, for the log, and the latest
    /// time among them (ms): the log's `at`.
    logged: Vec<ObjectId>,
    newest: i64,
    /// Sessions logged and not folded since: since when (first seen here,
    /// or last folded) and when last seen (ms).
    unfolded: HashMap<ObjectId, (i64, i64)>,
}

impl LastSeen {
    pub fn new(db: &Database, sessions: &str) -> LastSeen {
        LastSeen {
            db: db.clone(),
            sessions: sessions.to_owned(),
            log: db.collection(SEEN),
            folds: (IDLE_FOLD, ACTIVE_FOLD),
            pending: Mutex::default(),
        }
    }

    /// Folds after `idle` and every `active` instead (tests).
    pub fn folding_after(mut self, idle: Duration, active: Duration) -> LastSeen {
        self.folds = (idle, active);
        self
    }

    /// Notes that `session` was seen at `now` (ms).
    pub fn note(&self, session: ObjectId, now: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.logged.len() < MOST_PENDING {
            pending.logged.push(session);
            pending.newest = pending.newest.max(now);
        }
        let room = pending.unfolded.len() < MOST_PENDING;
        match pending.unfolded.get_mut(&session) {
            Some((_, last)) => *last = now,
            None if room => {
                pending.unfolded.insert(session, (now, now));
            }
            None => {}
        }
    }

    /// When `session` was last seen (ms): the later of its own stored time
    /// and its newest log entry; its own time when the log cannot be read
    /// (a list of devices is still worth showing).
    pub async fn latest(&self, session: ObjectId, stored: i64) -> i64 {
        let newest = self
            .log
            .find_one(doc! { "sessions": session })
            .sort(doc! { "at": -1 })
            .projection(doc! { "at": 1, "_id": 0 })
            .await;
        match newest {
            Ok(newest) => newest
                .and_then(|d| d.get_datetime("at").ok().map(|at| at.timestamp_millis()))
                .map_or(stored, |at| at.max(stored)),
            Err(e) => {
                tracing::debug!(error = %e, "last seen log not read");
                stored
            }
        }
    }

    /// [`LastSeen::latest`] of several sessions, in their order.
    pub async fn latest_of(&self, sessions: &[(ObjectId, i64)]) -> Vec<i64> {
        futures::stream::iter(sessions.to_vec())
            .map(|(session, stored)| self.latest(session, stored))
            .buffered(8)
            .collect()
            .await
    }

    /// Stores what is noted and folds every session followed, idle or
    /// not: what a stopping instance owes (each command still bounded).
    pub async fn store_all(&self) {
        self.store_folding(true).await;
    }

    /// Stores what is noted, every [`STORE_EVERY`], for as long as the
    /// process runs.
    pub fn store_in_batches(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(STORE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                self.store_folding(false).await;
            }
        })
    }

    /// The log first, then the folds due: sessions idle for the first
    /// fold delay, sessions first seen the second ago, and, when `all`,
    /// every session followed. A fold that fails is followed again (and
    /// tried at the next flush).
    async fn store_folding(&self, all: bool) {
        let at = DateTime::now().timestamp_millis();
        let (idle, active) = (self.folds.0.as_millis() as i64, self.folds.1.as_millis() as i64);
        let (mut logged, newest, folds) = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let mut folds = Vec::new();
            pending.unfolded.retain(|session, (first, last)| {
                let gone = all || at - *last >= idle;
                if gone || at - *first >= active {
                    folds.push((*session, *first, *last));
                    *first = at;
                }
                !gone
            });
            let newest = std::mem::take(&mut pending.newest);
            (std::mem::take(&mut pending.logged), newest, folds)
        };
        // Noted twice only while the session cache is bypassed.
        logged.sort_unstable();
        logged.dedup();
        // The latest time noted, not the flush's: a fold of the same
        // session later writes that time, never an earlier one.
        self.log(&logged, DateTime::from_millis(newest)).await;
        let failed = self.fold(folds).await;
        if !failed.is_empty() {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (session, first, last) in failed {
                let room = pending.unfolded.len() < MOST_PENDING;
                match pending.unfolded.get_mut(&session) {
                    Some(followed) => followed.0 = first,
                    None if room => {
                        pending.unfolded.insert(session, (first, last));
                    }
                    None => {}
                }
            }
        }
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
    /// Folds `(session, first, last)`: the sessions whose command failed
    /// are returned.
    async fn fold(&self, folds: Vec<(ObjectId, i64, i64)>) -> Vec<(ObjectId, i64, i64)> {
        let mut failed = Vec::new();
        for chunk in folds.chunks(FOLDS_PER_COMMAND) {
            let updates: Vec<Document> = chunk
                .iter()
                .map(|(id, _, seen)| {
                    doc! { "q": { "_id": id }, "u": { "$max": { "lastSeenAt": DateTime::from_millis(*seen) } } }
                })
                .collect();
            let command = doc! { "update": &self.sessions, "updates": updates, "ordered": false };
            // Bounded: a database that stops answering must not hold every
            // later batch (what is noted meanwhile stays bounded too).
            if !report(
                tokio::time::timeout(COMMAND_LIMIT, self.db.run_command(command)).await,
                chunk.len(),
            ) {
                failed.extend_from_slice(chunk);
            }
        }
        failed
    }
}

/// Whether a write of last seen went through; one that did not is logged
/// (a log entry lost is noted again at the session's next request a
/// minute on; a fold is tried again).
fn report<T>(outcome: Result<mongodb::error::Result<T>, tokio::time::error::Elapsed>, sessions: usize) -> bool {
    match outcome {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, sessions, "last seen not stored");
            false
        }
        Err(_) => {
            tracing::debug!(sessions, "last seen not stored in time");
            false
        }
    }
}

/// The log's index: a session's newest entry first (expiry's is
/// `expiry.rs`'s).
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    db.collection::<Document>(SEEN)
        .create_index(IndexModel::builder().keys(doc! { "sessions": 1, "at": -1 }).build())
        .await?;
    Ok(())
}
