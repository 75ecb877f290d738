//! Live updates: every new journal entry reaches the open pages of both of
//! its holders, on whichever instance they are connected.
//!
//! - `feed`: journal inserts and payment request changes, from the
//!   instance's one change stream (`changes/`), fanned out to the users
//!   listening here;
//! - `listener`: one client's stream: catch up from its `Last-Event-ID`,
//!   then live entries in the account's order, each exactly once; ends
//!   when its session does or the server stops.
//!
//! The route is `http/rest/events.rs`.

mod feed;
mod listener;

pub use listener::{Listener, Out};

use crate::model::PaymentRequest;
use crate::server::bank::LiveEntry;
use mongodb::bson::oid::ObjectId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// Streams one user may have open at once (tabs and devices).
pub const PER_USER: usize = 8;
/// Deliveries one user's streams may fall behind before they catch up from
/// the database instead. Each user with a stream holds this many slots up
/// front: with 256, a listener cost 34 KiB of RSS at 1,000 listeners; with
/// 32, 26 KiB. A person's payments hardly ever queue 32 deep.
const BACKLOG: usize = 32;

/// What the feed hands to a user's streams.
#[derive(Clone, Debug)]
pub enum Delivery {
    Entry(Arc<LiveEntry>),
    /// A payment request of the user's was made or changed.
    Request(Arc<PaymentRequest>),
    /// The feed may have missed entries (its change stream could not
    /// resume): catch up from the database.
    CatchUp,
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The user has [`PER_USER`] open already.
    TooManyForUser,
    /// The instance holds its most.
    Full,
    /// The server is stopping.
    Closing,
}

/// The instance's listeners, by user. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    users: Mutex<HashMap<ObjectId, broadcast::Sender<Delivery>>>,
    open: AtomicUsize,
    max: usize,
    closing: watch::Sender<bool>,
}

impl Live {
    pub fn new(max_streams: usize) -> Live {
        Live {
            inner: Arc::new(Inner {
                users: Mutex::default(),
                open: AtomicUsize::new(0),
                max: max_streams,
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Opens a stream for `user`, within the bounds.
    pub fn subscribe(&self, user: ObjectId) -> Result<Subscription, Refused> {
        let closing = self.inner.closing.subscribe();
        if *closing.borrow() {
            return Err(Refused::Closing);
        }
        let mut users = self.users();
        let sender = users.entry(user).or_insert_with(|| broadcast::channel(BACKLOG).0);
        if sender.receiver_count() >= PER_USER {
            return Err(Refused::TooManyForUser);
        }
        if self
            .inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.inner.max).then_some(n + 1)
            })
            .is_err()
        {
            if sender.receiver_count() == 0 {
                users.remove(&user);
            }
            return Err(Refused::Full);
        }
        Ok(Subscription {
            deliveries: sender.subscribe(),
            closing,
            live: self.clone(),
            user,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Ends every stream, and refuses new ones: the server is stopping, and
    /// its drain must not wait for streams that never end by themselves.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// The channel of `user`'s streams, when any is open here.
    fn listeners(&self, user: ObjectId) -> Option<broadcast::Sender<Delivery>> {
        self.users().get(&user).cloned()
    }

    /// Tells every stream to catch up from the database.
    fn catch_up_all(&self) {
        for sender in self.users().values() {
            let _ = sender.send(Delivery::CatchUp);
        }
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectId, broadcast::Sender<Delivery>>> {
        self.inner.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One open stream's place in the fan-out; leaving it (drop) frees it.
pub struct Subscription {
    pub(crate) deliveries: broadcast::Receiver<Delivery>,
    pub(crate) closing: watch::Receiver<bool>,
    live: Live,
    user: ObjectId,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.live.inner.open.fetch_sub(1, Ordering::AcqRel);
        let mut users = self.live.users();
        // This receiver is still alive: it is the last when it is the only one.
        if users.get(&self.user).is_some_and(|s| s.receiver_count() <= 1) {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_bounded_per_user_and_in_all() {
        let live = Live::new(10);
        let (asha, ravi) = (ObjectId::new(), ObjectId::new());
        let mut held: Vec<Subscription> = (0..PER_USER).map(|_| live.subscribe(asha).unwrap()).collect();
        assert_eq!(live.subscribe(asha).err(), Some(Refused::TooManyForUser));
        held.push(live.subscribe(ravi).unwrap());
        held.push(live.subscribe(ravi).unwrap());
        assert_eq!(live.subscribe(ravi).err(), Some(Refused::Full));
        assert_eq!(live.open(), 10);
        held.truncate(1);
        assert_eq!(live.open(), 1);
        assert!(
            live.listeners(ravi).is_none(),
            "a user with no stream left is forgotten"
        );
        assert!(live.listeners(asha).is_some());
        held.clear();
        assert!(live.listeners(asha).is_none());
        live.close();
        assert_eq!(live.subscribe(asha).err(), Some(Refused::Closing));
    }
}
