//! Search's read model: every user's name in memory, kept current by a
//! change stream on the users (`follow.rs`), so a search is answered from
//! memory in microseconds on any database (SecantusDB reads a whole index
//! range before it applies a limit: a one-letter prefix over 100,000 users
//! took seconds). Trusted only while loaded and following; otherwise
//! `Bank::search` asks the database, which gives the same answer.
//!
//! Cost: about 90 bytes a user (a record with the names, three orders of
//! 4 bytes): ~9 MB per 100,000 users. Above `max_users` it is not kept.

mod follow;
mod index;

pub use index::Entry;
pub(crate) use index::Index;

use crate::model::UserSummary;
use index::TooLong;
use mongodb::bson::oid::ObjectId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Users held in memory unless configured otherwise (~90 MB).
pub const DEFAULT_MAX_USERS: usize = 1_000_000;

pub struct Directory {
    state: RwLock<State>,
    /// Whether `state` is `Ready` and its change stream runs.
    live: AtomicBool,
    max_users: usize,
}

enum State {
    /// Not kept (not started, too many users, or a name too long).
    Off,
    /// Being read from the database: sign-ups made here meanwhile wait.
    Loading(Vec<Entry>),
    Ready(Index),
}

impl Directory {
    pub fn new(max_users: usize) -> Directory {
        Directory {
            state: RwLock::new(State::Off),
            live: AtomicBool::new(false),
            max_users,
        }
    }

    /// Whether searches are answered from memory now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
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
        if !self.live.load(Ordering::Acquire) {
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
            State::Loading(waiting) => waiting.extend(entries),
            State::Ready(index) => {
                let fits = entries.into_iter().try_for_each(|e| index.upsert(&e, true));
                self.check(&mut state, fits);
            }
        }
    }

    /// A change the stream brought: a new user or new names.
    fn apply(&self, entry: &Entry) {
        let mut state = self.write();
        if let State::Ready(index) = &mut *state {
            let fits = index.upsert(entry, false);
            self.check(&mut state, fits);
        }
    }

    /// A known user's entry, for a change that names only some fields.
    fn get(&self, id: ObjectId) -> Option<Entry> {
        match &*self.read() {
            State::Ready(index) => index.get(id),
            _ => None,
        }
    }

    fn begin_load(&self) {
        self.live.store(false, Ordering::Release);
        *self.write() = State::Loading(Vec::new());
    }

    /// Ends a load with what was read: false when it cannot be kept.
    /// Sign-ups made here meanwhile are added only if the read missed
    /// them (what was read may already hold a later rename).
    fn finish_load(&self, mut read: Index) -> bool {
        let mut state = self.write();
        let waiting = match std::mem::replace(&mut *state, State::Off) {
            State::Loading(waiting) => waiting,
            _ => Vec::new(),
        };
        read.seal();
        if waiting.iter().try_for_each(|e| read.upsert(e, true)).is_err() || read.len() > self.max_users {
            return false;
        }
        *state = State::Ready(read);
        true
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

    /// Trusts the directory (if it is ready) or stops trusting it.
    fn set_live(&self, live: bool) {
        let state = self.write();
        self.live
            .store(live && matches!(&*state, State::Ready(_)), Ordering::Release);
    }

    fn is_off(&self) -> bool {
        matches!(&*self.read(), State::Off)
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
