//! The sessions this instance has seen, in memory, so that checking one
//! costs no database read; kept current by the instance's change stream
//! (`changes/`): every session opened anywhere is known here before its
//! first request, every one ended anywhere is marked ended. The cache
//! answers only while the stream is current ([`Trust`]); otherwise the
//! store reads the database and caches nothing.

use super::SessionDoc;
use crate::server::changes::{Change, Follower, Interest, Op, Trust, Updates};
use futures::future::BoxFuture;
use futures::FutureExt;
use mongodb::bson::oid::ObjectId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Sessions remembered per instance before the cache starts over.
const CACHE_LIMIT: usize = 200_000;

#[derive(Clone, Copy, Debug)]
pub(super) struct Cached {
    pub user: ObjectId,
    pub expires_at: i64,
    pub revoked: bool,
    /// When this instance last noted it seen (ms; at first, what its own
    /// document says).
    pub seen_noted: i64,
}

impl Cached {
    pub fn of(session: &SessionDoc) -> Cached {
        Cached {
            user: session.user,
            expires_at: session.expires_at.timestamp_millis(),
            revoked: session.revoked,
            seen_noted: session.last_seen_at.timestamp_millis(),
        }
    }
}

pub(super) struct SessionCache {
    sessions: Mutex<HashMap<ObjectId, Cached>>,
    trust: Trust,
    /// Each session seen ending (live streams in it close).
    ended: broadcast::Sender<ObjectId>,
}

impl SessionCache {
    pub fn new(trust: Trust) -> SessionCache {
        SessionCache {
            sessions: Mutex::default(),
            trust,
            ended: broadcast::Sender::new(1024),
        }
    }

    pub fn ended(&self) -> broadcast::Receiver<ObjectId> {
        self.ended.subscribe()
    }

    /// Whether the cache may answer now.
    pub fn is_current(&self) -> bool {
        self.trust.is_current()
    }

    pub fn lookup(&self, sid: ObjectId) -> Option<Cached> {
        self.lock().get(&sid).copied()
    }

    /// Caches a session read from the database, unless the change stream
    /// has meanwhile said it ended (that word wins); returns what is cached.
    pub fn remember(&self, sid: ObjectId, session: Cached) -> Cached {
        let mut sessions = self.lock();
        if sessions.len() >= CACHE_LIMIT {
            sessions.clear();
        }
        *sessions.entry(sid).or_insert(session)
    }

    /// Marks a session ended here (and tells its live streams).
    pub fn forget(&self, sid: ObjectId) {
        let _ = self.ended.send(sid);
        let mut sessions = self.lock();
        if let Some(session) = sessions.get_mut(&sid) {
            session.revoked = true;
        } else {
            sessions.insert(
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

    /// Marks every cached session of `user` but `keep` ended.
    pub fn forget_user(&self, user: ObjectId, keep: Option<ObjectId>) {
        for (sid, session) in self.lock().iter_mut() {
            if session.user == user && Some(*sid) != keep {
                session.revoked = true;
                let _ = self.ended.send(*sid);
            }
        }
    }

    /// Notes when the session was last noted seen here.
    pub fn noted_seen(&self, sid: ObjectId, now: i64) {
        if let Some(session) = self.lock().get_mut(&sid) {
            session.seen_noted = now;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectId, Cached>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Follower for SessionCache {
    fn interests(&self) -> Vec<Interest> {
        // Not "last seen": most updates are that, and it means nothing here.
        vec![Interest {
            collection: super::SESSIONS,
            updates: Updates::Fields(&["revoked"]),
        }]
    }

    fn apply(&self, change: &Change) {
        let Some(sid) = change.object_id() else {
            if change.op == Op::Drop {
                self.lock().clear();
            }
            return;
        };
        match change.op {
            // A session opened anywhere: known here before its first
            // request, so that request needs no read.
            Op::Insert => {
                let opened = change
                    .document
                    .clone()
                    .and_then(|d| mongodb::bson::from_document::<SessionDoc>(d).ok());
                if let Some(session) = opened {
                    self.remember(sid, Cached::of(&session));
                }
            }
            Op::Delete => self.forget(sid),
            Op::Update => {
                let revoked = change.updated.as_ref().map(|u| u.get_bool("revoked"));
                if revoked == Some(Ok(true)) {
                    self.forget(sid);
                }
            }
            // Not a change Paisa makes: read it afresh when next used.
            Op::Replace => {
                self.lock().remove(&sid);
            }
            Op::Drop => self.lock().clear(),
        }
    }

    fn restart(&self) -> BoxFuture<'_, mongodb::error::Result<()>> {
        // Sessions may have ended unseen: each is read afresh.
        self.lock().clear();
        async { Ok(()) }.boxed()
    }
}
