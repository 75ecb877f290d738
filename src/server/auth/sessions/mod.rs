//! Server-side sessions: every token names one (`sid`), and a session can
//! be ended (sign-out, sign-out everywhere, a password change, "End" on the
//! profile page) long before its token expires.
//!
//! Checking a session must not cost a database read per request, and ending
//! one must reach every instance within seconds: `cache.rs` keeps the
//! sessions seen here, fed by the instance's change stream, and answers
//! only while that stream is current; otherwise the database does.
//! "Last seen" is noted in memory and written in batches (`last_seen.rs`).

mod cache;
pub mod last_seen;

use crate::server::auth::network::network;
use crate::server::bank::error::BankError;
use crate::server::changes::{Follower, Trust};
use cache::{Cached, SessionCache};
use last_seen::LastSeen;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

pub const SESSIONS: &str = "sessions";
/// Noted at most this often per session (and stored in batches,
/// `last_seen.rs`): "last seen" is for people, to the minute.
const LAST_SEEN_EVERY: Duration = Duration::from_secs(60);
/// Longest user agent kept.
const USER_AGENT_CHARS: usize = 200;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SessionDoc {
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
    /// The device cookie it sent, if any (`sign_in.rs`).
    pub known: Option<String>,
}

#[derive(Clone)]
pub struct SessionStore {
    sessions: Collection<SessionDoc>,
    ttl: Duration,
    cache: Arc<SessionCache>,
    /// "Last seen", written in batches.
    last_seen: Arc<LastSeen>,
}

impl SessionStore {
    /// Sessions in `db`, cached while `trust` says the change stream is
    /// current (the cache must also follow it: [`SessionStore::follower`]).
    pub fn new(db: &Database, ttl: Duration, trust: Trust) -> SessionStore {
        SessionStore {
            sessions: db.collection(SESSIONS),
            ttl,
            cache: Arc::new(SessionCache::new(trust)),
            last_seen: Arc::new(LastSeen::new(db, SESSIONS)),
        }
    }

    /// What the change stream feeds.
    pub fn follower(&self) -> Arc<dyn Follower> {
        self.cache.clone()
    }

    /// Tells of every session that ends from now on, here or elsewhere
    /// (while the change stream runs; a receiver that falls behind is told
    /// it lagged and should check its session itself).
    pub fn ended(&self) -> tokio::sync::broadcast::Receiver<ObjectId> {
        self.cache.ended()
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `user`; its id goes into the token.
    pub async fn open(&self, user: ObjectId, device: &Device) -> Result<ObjectId, BankError> {
        let session = self.new_session(user, device);
        self.sessions.insert_one(&session).await?;
        self.cache.remember(session.id, Cached::of(&session));
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
            network: device.address.map(|a| network(a).to_string()).unwrap_or_default(),
            expires_at: DateTime::from_millis(now.timestamp_millis() + self.ttl.as_millis() as i64),
            revoked: false,
        }
    }

    /// Whether `sid` is a live session of `user`.
    pub async fn check(&self, sid: ObjectId, user: ObjectId) -> Result<(), BankError> {
        let now = DateTime::now().timestamp_millis();
        let current = self.cache.is_current();
        let session = match current.then(|| self.cache.lookup(sid)).flatten() {
            Some(session) => session,
            None => {
                let found = self.sessions.find_one(doc! { "_id": sid }).await?;
                let fresh = found.as_ref().map(Cached::of).ok_or(BankError::Unauthorized)?;
                // Behind the database, the cache may be stale: its word only.
                if current {
                    self.cache.remember(sid, fresh)
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
            self.cache.forget(sid);
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
        self.cache.forget_user(user, keep);
        Ok(())
    }

    /// Notes "last seen" for the next batch: the request does not wait.
    fn note_seen(&self, sid: ObjectId, now: i64) {
        self.cache.noted_seen(sid, now);
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
}

/// The indexes sessions need: the user's sessions (expiry's is
/// `expiry.rs`'s), and the log's. Idempotent.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    db.collection::<Document>(SESSIONS)
        .create_index(IndexModel::builder().keys(doc! { "userId": 1 }).build())
        .await?;
    last_seen::ensure_indexes(db).await
}
