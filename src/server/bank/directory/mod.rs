//! Search's read model: every user's name in memory, kept current by the
//! instance's change stream (`follow.rs`), so a search is answered from
//! memory in microseconds on any database (SecantusDB reads a whole index
//! range before it applies a limit: a one-letter prefix over 100,000 users
//! took seconds). Trusted only while loaded and the stream is current
//! (`changes/`); otherwise
//! `Bank::search` asks the database, which gives the same answer.
//!
//! Cost: about 90 bytes a user (a record with the names, three orders of
//! 4 bytes): ~9 MB per 100,000 users. Above `max_users` it is not kept.

mod follow;
mod index;

pub use index::Entry;
pub(crate) use index::Index;

use crate::model::UserSummary;
use crate::server::changes::Trust;
use index::TooLong;
use mongodb::bson::oid::ObjectId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub struct Directory {
    state: RwLock<State>,
    /// Whether `state` is `Ready`.
    live: AtomicBool,
    /// Whether the stream that keeps it is current.
    trust: Trust,
    max_users: usize,
    /// Loads begun: a load that another has overtaken is dropped.
    loads: std::sync::atomic::AtomicU64,
}

enum State {
    /// Not kept (not started, too many users, or a name too long).
    Off,
    /// Being read from the database: what the stream brings meanwhile
    /// (`changed`, in order) and sign-ups made here (`made`) wait.
    Loading {
        load: u64,
        changed: Vec<Entry>,
        made: Vec<Entry>,
    },
    Ready(Index),
}

impl Directory {
    pub fn new(max_users: usize, trust: Trust) -> Directory {
        Directory {
            state: RwLock::new(State::Off),
            live: AtomicBool::new(false),
            trust,
            max_users,
            loads: Default::default(),
        }
    }

    /// Whether searches are answered from memory now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire) && self.trust.is_current()
    }

    /// The answer from memory, or `None` when it cannot be trusted.
    pub fn search(&self, prefix: &str, limit: usize, caller: ObjectId) -> Option<Vec<UserSummary>> {
        self.trusted(|index| index.search(prefix, limit, caller))
    }

    /// The users of `ids` known here, as search shows them, and the ids
    /// still to read (all of them when the directory is not trusted).
    pub fn summaries(&self, ids: &[ObjectId]) -> (Vec<UserSummary>, Vec<ObjectId>) {
        self.trusted(|index| {
            let (mut known, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
            for &id in ids {
                match index.summary_of(id) {
                    Some(person) => known.push(person),
                    None => missing.push(id),
                }
            }
            (known, missing)
        })
        .unwrap_or_else(|| (Vec::new(), ids.to_vec()))
    }

    /// `read` of the index, while it is ready and followed.
    fn trusted<T>(&self, read: impl FnOnce(&Index) -> T) -> Option<T> {
        if !self.is_live() {
            return None;
        }
        match &*self.read() {
            State::Ready(index) => Some(read(index)),
            _ => None,
        }
    }

    /// Users made by this instance, known here at once (the change stream
    /// brings them too, a moment later, and to every other instance).
    pub fn add_new(&self, entries: impl IntoIterator<Item = Entry>) {
        let mut state = self.write();
        match &mut *state {
            State::Off => {}
            State::Loading { made, .. } => made.extend(entries),
            State::Ready(index) => {
                let fits = entries.into_iter().try_for_each(|e| index.upsert(&e, true));
                self.check(&mut state, fits);
            }
        }
    }

    /// A change the stream brought: a new user or new names.
    fn apply(&self, entry: &Entry) {
        let mut state = self.write();
        match &mut *state {
            State::Ready(index) => {
                let fits = index.upsert(entry, false);
                self.check(&mut state, fits);
            }
            State::Loading { changed, .. } => changed.push(entry.clone()),
            State::Off => {}
        }
    }

    /// Starts a load (the one before it, if any, is dropped); its number.
    fn begin_load(&self) -> u64 {
        let load = self.loads.fetch_add(1, Ordering::AcqRel) + 1;
        self.live.store(false, Ordering::Release);
        *self.write() = State::Loading {
            load,
            changed: Vec::new(),
            made: Vec::new(),
        };
        load
    }

    /// Whether `load` is still the one under way.
    fn loading(&self, load: u64) -> bool {
        matches!(&*self.read(), State::Loading { load: l, .. } if *l == load)
    }

    /// Ends `load` with what was read: false when it cannot be kept. What
    /// the stream brought meanwhile is applied in order (the stream's last
    /// word is the newest); sign-ups made here only if the read missed them
    /// (what was read may already hold a later rename).
    fn finish_load(&self, load: u64, mut read: Index) -> bool {
        let mut state = self.write();
        if !matches!(&*state, State::Loading { load: l, .. } if *l == load) {
            return true;
        }
        let (changed, made) = match std::mem::replace(&mut *state, State::Off) {
            State::Loading { changed, made, .. } => (changed, made),
            _ => (Vec::new(), Vec::new()),
        };
        read.seal();
        let fits = changed
            .iter()
            .try_for_each(|e| read.upsert(e, false))
            .and_then(|()| made.iter().try_for_each(|e| read.upsert(e, true)));
        if fits.is_err() || read.len() > self.max_users {
            return false;
        }
        *state = State::Ready(read);
        self.live.store(true, Ordering::Release);
        true
    }

    pub fn max_users(&self) -> usize {
        self.max_users
    }

    /// Whether a load of `n` users may proceed.
    fn holds(&self, n: usize) -> bool {
        n <= self.max_users
    }

    /// Stops keeping the directory, for `why`, at `n` users.
    fn give_up(&self, n: usize, why: &str) {
        self.stop(&mut self.write(), n, why);
    }

    /// Drops the index for good (the follower ends when it sees it off).
    fn stop(&self, state: &mut State, n: usize, why: &str) {
        tracing::warn!(
            users = n,
            max_users = self.max_users,
            "search directory not kept ({why}): searches ask the database"
        );
        *state = State::Off;
        self.live.store(false, Ordering::Release);
    }

    /// Stops keeping the index when it no longer fits.
    fn check(&self, state: &mut State, fits: Result<(), TooLong>) {
        let n = match state {
            State::Ready(index) => index.len(),
            _ => return,
        };
        if fits.is_err() {
            self.stop(state, n, "a name too long to hold");
        } else if n > self.max_users {
            self.stop(state, n, "too many users");
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}
