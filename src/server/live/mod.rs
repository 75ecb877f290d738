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
use crate::server::auth::network::Network;
use crate::server::bank::LiveEntry;
use mongodb::bson::oid::ObjectId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// Streams one user may have open at once (tabs and devices).
pub const PER_USER: usize = 8;
/// Streams one client network may have open at once, whoever signed in:
/// without it a few hundred free accounts from one place would hold every
/// stream of the instance.
pub const PER_NETWORK: usize = 64;
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
    /// The client's network has [`PER_NETWORK`] open already.
    TooManyForNetwork,
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
    networks: Mutex<HashMap<Network, usize>>,
    open: AtomicUsize,
    max: usize,
    closing: watch::Sender<bool>,
}

impl Live {
    pub fn new(max_streams: usize) -> Live {
        Live {
            inner: Arc::new(Inner {
                users: Mutex::default(),
                networks: Mutex::default(),
                open: AtomicUsize::new(0),
                max: max_streams,
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Opens a stream for `user`, from `network` (none: unknown), within
    /// the bounds.
    pub fn subscribe(&self, user: ObjectId, network: Option<Network>) -> Result<Subscription, Refused> {
        let closing = self.inner.closing.subscribe();
        if *closing.borrow() {
            return Err(Refused::Closing);
        }
        let place = NetworkPlace::take(self, network)?;
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
            _place: place,
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
    _place: NetworkPlace,
}

/// A stream's place in its network's count; freed when dropped.
struct NetworkPlace {
    live: Live,
    network: Option<Network>,
}

impl NetworkPlace {
    fn take(live: &Live, network: Option<Network>) -> Result<NetworkPlace, Refused> {
        if let Some(network) = network {
            let mut networks = live.inner.networks.lock().unwrap_or_else(|p| p.into_inner());
            let n = networks.entry(network).or_default();
            if *n >= PER_NETWORK {
                return Err(Refused::TooManyForNetwork);
            }
            *n += 1;
        }
        Ok(NetworkPlace {
            live: live.clone(),
            network,
        })
    }
}

impl Drop for NetworkPlace {
    fn drop(&mut self) {
        let Some(network) = self.network else { return };
        let mut networks = self.live.inner.networks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = networks.get_mut(&network) {
            *n -= 1;
            if *n == 0 {
                networks.remove(&network);
            }
        }
    }
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
        let mut held: Vec<Subscription> = (0..PER_USER).map(|_| live.subscribe(asha, None).unwrap()).collect();
        assert_eq!(live.subscribe(asha, None).err(), Some(Refused::TooManyForUser));
        held.push(live.subscribe(ravi, None).unwrap());
        held.push(live.subscribe(ravi, None).unwrap());
        assert_eq!(live.subscribe(ravi, None).err(), Some(Refused::Full));
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
        assert_eq!(live.subscribe(asha, None).err(), Some(Refused::Closing));
    }

    #[test]
    fn streams_are_bounded_per_network() {
        let live = Live::new(10 * PER_NETWORK);
        let here = Some(crate::server::auth::network::network("203.0.113.7".parse().unwrap()));
        let elsewhere = Some(crate::server::auth::network::network("198.51.100.7".parse().unwrap()));
        let mut held: Vec<Subscription> = (0..PER_NETWORK)
            .map(|_| live.subscribe(ObjectId::new(), here).unwrap())
            .collect();
        assert_eq!(
            live.subscribe(ObjectId::new(), here).err(),
            Some(Refused::TooManyForNetwork)
        );
        assert!(live.subscribe(ObjectId::new(), elsewhere).is_ok());
        held.pop();
        assert!(
            live.subscribe(ObjectId::new(), here).is_ok(),
            "a closed stream frees its place"
        );
    }
}
