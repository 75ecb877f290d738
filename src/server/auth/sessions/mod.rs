//! Server-side sessions: every token names one (`sid`), and a session can
//! be ended (sign-out, sign-out everywhere, a password change, "End" on the
//! profile page) long before its token expires.
//!
//! Checking a session must not cost a database read per request, and ending
//! one must reach every instance within a second. So each instance keeps
//! the sessions it has seen in memory, and one change stream on the
//! `sessions` collection tells it of every session opened (cached before
//! its first request) and ended anywhere. While the
//! stream is down (a database restart), the cache is bypassed: sessions are
//! read from the database, never trusted stale.

use crate::server::bank::error::BankError;
pub mod last_seen;

use last_seen::LastSeen;
use futures::StreamExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SESSIONS: &str = "sessions";
/// Noted at most this often per session (and stored in batches,
/// `last_seen.rs`): "last seen" is for people, to the minute.
const LAST_SEEN_EVERY: Duration = Duration::from_secs(60);
/// Longest user agent kept.
const USER_AGENT_CHARS: usize = 200;
/// Sessions remembered per instance before the cache starts over.
const CACHE_LIMIT: usize = 200_000;

#[derive(Debug, Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(rename = "userId")]
    user: ObjectId,
    #[serde(rename = "createdAt")]
    created_at: DateTime,
    #[serde(rename = "lastSeenAt")]
    last_seen_at: DateTime,
    #[serde(rename = "userAgent")]
    user_agent: String,
    /// The client's network, not its address: `203.0.113.0/24`, `2001:db8:1:2::/64`.
    network: String,
    /// Removed after this (`expiry.rs`).
    #[serde(rename = "expiresAt")]
    expires_at: DateTime,
    revoked: bool,
}

/// A session as its owner sees it on the profile page and in the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: String,
    pub current: bool,
}

/// Who is signing in, for the list of devices.
#[derive(Clone, Debug, Default)]
pub struct Device {
    pub user_agent: String,
    pub address: Option<std::net::IpAddr>,
}

#[derive(Clone, Copy)]
struct Cached {
    user: ObjectId,
    expires_at: i64,
    revoked: bool,
    /// When this instance last noted it seen (ms; at first, what its own
    /// document says).
    seen_noted: i64,
}

#[derive(Clone)]
pub struct SessionStore {
    sessions: Collection<SessionDoc>,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<ObjectId, Cached>>>,
    /// Whether the change stream is running, so the cache can be trusted.
    watching: Arc<AtomicBool>,
    /// Each session seen ending (live streams in it close).
    ended: tokio::sync::broadcast::Sender<ObjectId>,
    /// "Last seen", written in batches.
    last_seen: Arc<LastSeen>,
}

impl SessionStore {
    pub fn new(db: &Database, ttl: Duration) -> SessionStore {
        SessionStore {
            sessions: db.collection(SESSIONS),
            ttl,
            cache: Arc::default(),
            watching: Arc::default(),
            ended: tokio::sync::broadcast::Sender::new(1024),
            last_seen: Arc::new(LastSeen::new(db, SESSIONS)),
        }
    }

    /// Tells of every session that ends from now on, here or elsewhere
    /// (while the change stream runs; a receiver that falls behind is told
    /// it lagged and should check its session itself).
    pub fn ended(&self) -> tokio::sync::broadcast::Receiver<ObjectId> {
        self.ended.subscribe()
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `user`; its id goes into the token.
    pub async fn open(&self, user: ObjectId, device: &Device) -> Result<ObjectId, BankError> {
        let session = self.new_session(user, device);
        self.sessions.insert_one(&session).await?;
        self.remember(session.id, cached(&session));
        Ok(session.id)
    }

    /// Starts one session for each of `users` at once (a seed for the
    /// benchmark and the tests); their ids in order.
    pub async fn open_many(&self, users: &[ObjectId], device: &Device) -> Result<Vec<ObjectId>, BankError> {
        let sessions: Vec<SessionDoc> = users.iter().map(|&user| self.new_session(user, device)).collect();
        for batch in sessions.chunks(10_000) {
            self.sessions.insert_many(batch).await?;
        }
        Ok(sessions.iter().map(|s| s.id).collect())
    }

    fn new_session(&self, user: ObjectId, device: &Device) -> SessionDoc {
        let now = DateTime::now();
        SessionDoc {
            id: ObjectId::new(),
            user,
            created_at: now,
            last_seen_at: now,
            user_agent: device.user_agent.chars().take(USER_AGENT_CHARS).collect(),
            network: device.address.map(network).unwrap_or_default(),
            expires_at: DateTime::from_millis(now.timestamp_millis() + self.ttl.as_millis() as i64),
            revoked: false,
        }
    }

    /// Whether `sid` is a live session of `user`.
    pub async fn check(&self, sid: ObjectId, user: ObjectId) -> Result<(), BankError> {
        let now = DateTime::now().timestamp_millis();
        let watching = self.watching.load(Ordering::Acquire);
        let session = match watching.then(|| self.lookup(sid)).flatten() {
            Some(session) => session,
            None => {
                let found = self.sessions.find_one(doc! { "_id": sid }).await?;
                let fresh = found.as_ref().map(cached).ok_or(BankError::Unauthorized)?;
                // Unwatched, the cache may be stale: the database's word only.
                if watching {
                    self.remember(sid, fresh)
                } else {
                    fresh
                }
            }
        };
        if session.user != user || session.revoked || session.expires_at <= now {
            return Err(BankError::Unauthorized);
        }
        if now - session.seen_noted >= LAST_SEEN_EVERY.as_millis() as i64 {
            self.note_seen(sid, now);
        }
        Ok(())
    }

    /// The user's live sessions, newest first; `current` marked.
    pub async fn list(&self, user: ObjectId, current: ObjectId) -> Result<Vec<SessionInfo>, BankError> {
        use futures::TryStreamExt;
        let now = DateTime::now();
        let found: Vec<SessionDoc> = self
            .sessions
            .find(doc! { "userId": user, "revoked": false, "expiresAt": { "$gt": now } })
            .sort(doc! { "_id": -1 })
            .limit(100)
            .await?
            .try_collect()
            .await?;
        let stored: Vec<(ObjectId, i64)> = found
            .iter()
            .map(|s| (s.id, s.last_seen_at.timestamp_millis()))
            .collect();
        let seen = self.last_seen.latest_of(&stored).await;
        Ok(found
            .into_iter()
            .zip(seen)
            .map(|(s, last_seen_at)| SessionInfo {
                id: s.id.to_hex(),
                created_at: s.created_at.timestamp_millis(),
                last_seen_at,
                user_agent: s.user_agent,
                current: s.id == current,
            })
            .collect())
    }

    /// Ends one of `user`'s sessions; `false` when it is not theirs (or
    /// does not exist).
    pub async fn end(&self, user: ObjectId, sid: ObjectId) -> Result<bool, BankError> {
        let ended = self
            .sessions
            .update_one(
                doc! { "_id": sid, "userId": user },
                doc! { "$set": { "revoked": true } },
            )
            .await?;
        let ended = ended.matched_count == 1;
        if ended {
            self.forget(sid);
        }
        Ok(ended)
    }

    /// Ends every session of `user` but `keep` (none: all of them).
    pub async fn end_all(&self, user: ObjectId, keep: Option<ObjectId>) -> Result<(), BankError> {
        let mut filter = doc! { "userId": user, "revoked": false };
        if let Some(keep) = keep {
            filter.insert("_id", doc! { "$ne": keep });
        }
        self.sessions
            .update_many(filter, doc! { "$set": { "revoked": true } })
            .await?;
        // This instance at once; the others by the change stream.
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for (sid, session) in cache.iter_mut() {
            if session.user == user && Some(*sid) != keep {
                session.revoked = true;
                let _ = self.ended.send(*sid);
            }
        }
        Ok(())
    }

    fn lookup(&self, sid: ObjectId) -> Option<Cached> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&sid).copied()
    }

    /// Caches a session read from the database, unless the change stream
    /// has meanwhile said it ended (that word wins); returns what is cached.
    fn remember(&self, sid: ObjectId, session: Cached) -> Cached {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        *cache.entry(sid).or_insert(session)
    }

    /// Marks a session ended in this instance's cache.
    fn forget(&self, sid: ObjectId) {
        let _ = self.ended.send(sid);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = cache.get_mut(&sid) {
            session.revoked = true;
        } else {
            cache.insert(
                sid,
                Cached {
                    user: ObjectId::from_bytes([0; 12]),
                    expires_at: i64::MAX,
                    revoked: true,
                    seen_noted: 0,
                },
            );
        }
    }

    /// Notes "last seen" for the next batch: the request does not wait.
    fn note_seen(&self, sid: ObjectId, now: i64) {
        if let Some(session) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&sid) {
            session.seen_noted = now;
        }
        self.last_seen.note(sid, now);
    }

    /// Folds "last seen" after `idle` and every `active` instead of the
    /// defaults (tests; before [`SessionStore::store_last_seen_in_batches`]).
    pub fn folding_last_seen_after(mut self, idle: Duration, active: Duration) -> SessionStore {
        let db = self.sessions.client().database(&self.sessions.namespace().db);
        self.last_seen = Arc::new(LastSeen::new(&db, SESSIONS).folding_after(idle, active));
        self
    }

    /// Writes every "last seen" this instance owes (it is stopping).
    pub async fn store_last_seen_now(&self) {
        self.last_seen.store_all().await;
    }

    /// Writes the noted "last seen" times every few seconds, for as long as
    /// the process runs.
    pub fn store_last_seen_in_batches(&self) -> tokio::task::JoinHandle<()> {
        self.last_seen.clone().store_in_batches()
    }

    /// Follows every change to the sessions, for as long as the process
    /// runs: an ended session leaves every instance's cache within the
    /// stream's delay. Reconnects (from its resume token) after an error.
    pub fn watch(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut resume: Option<ResumeToken> = None;
            loop {
                if let Err(e) = store.follow(&mut resume).await {
                    tracing::warn!(error = %e, "session change stream interrupted; reconnecting");
                }
                store.watching.store(false, Ordering::Release);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }

    async fn follow(&self, resume: &mut Option<ResumeToken>) -> mongodb::error::Result<()> {
        // Not "last seen": most changes are that, and it means nothing here.
        let sessions = self.sessions.clone_with_type::<Document>();
        let mut stream = crate::server::db::watch_changes(&sessions, &["revoked"], resume, "session").await?;
        // Started afresh: forget what may have changed unseen meanwhile.
        if resume.is_none() {
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        self.watching.store(true, Ordering::Release);
        while let Some(event) = stream.next().await {
            let event: ChangeStreamEvent<Document> = event?;
            self.apply(&event);
            *resume = stream.resume_token();
        }
        Ok(())
    }

    fn apply(&self, event: &ChangeStreamEvent<Document>) {
        let sid = event
            .document_key
            .as_ref()
            .and_then(|k| k.get_object_id("_id").ok())
            .unwrap_or(ObjectId::from_bytes([0; 12]));
        match event.operation_type {
            // A session opened anywhere: known here before its first
            // request, so that request needs no read.
            OperationType::Insert => {
                let opened = event
                    .full_document
                    .clone()
                    .and_then(|d| mongodb::bson::from_document::<SessionDoc>(d).ok());
                if let Some(session) = opened {
                    self.remember(sid, cached(&session));
                }
            }
            OperationType::Delete => self.forget(sid),
            // "Last seen" updates are most of them: only an ending counts.
            OperationType::Update => {
                let revoked = event
                    .update_description
                    .as_ref()
                    .map(|u| u.updated_fields.get_bool("revoked"));
                if revoked == Some(Ok(true)) {
                    self.forget(sid);
                }
            }
            // Not a change Paisa makes: read it afresh when next used.
            OperationType::Replace => {
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(&sid);
            }
            OperationType::Drop | OperationType::DropDatabase | OperationType::Invalidate => {
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
            }
            _ => {}
        }
    }
}

/// The indexes sessions need: the user's sessions (expiry's is
/// `expiry.rs`'s), and the log's. Idempotent.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    db.collection::<Document>(SESSIONS)
        .create_index(IndexModel::builder().keys(doc! { "userId": 1 }).build())
        .await?;
    crate::server::auth::sessions::last_seen::ensure_indexes(db).await
}

fn cached(session: &SessionDoc) -> Cached {
    Cached {
        user: session.user,
        expires_at: session.expires_at.timestamp_millis(),
        revoked: session.revoked,
        seen_noted: session.last_seen_at.timestamp_millis(),
    }
}

/// The client's network: an IPv4 address's /24, an IPv6 address's /64.
pub fn network(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_hide_the_host() {
        assert_eq!(network("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(network("2001:db8:1:2:3:4:5:6".parse().unwrap()), "2001:db8:1:2::/64");
    }
}
