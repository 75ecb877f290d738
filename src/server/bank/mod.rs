//! The banking rules: users, accounts, transfers and the journal. Every
//! adapter (server functions, REST routes) calls [`Bank`] and nothing else
//! touches the collections. One concern per file:
//!
//! - `store`: document types and collection names;
//! - `validate`: checks on what users type;
//! - `journal`: entries, postings, the issuer;
//! - `directory`: every user's name in memory, for search;
//! - `asks`: what pending requests ask, in memory, for payments;
//! - `users`, `search`, `transfers`, `history`, `requests`, `recent`: the operations;
//! - `since`: what an account saw after a point, for live streams;
//! - `feed`: what a change of the stream means for live streams;
//! - `indexes`: what the queries above rely on;
//! - `passwords`: hashing and checking them (argon2id, bounded);
//! - `migrate`: bringing first-release balances into the journal;
//! - `audit`: proving the books from one snapshot;
//! - `txn`: how every transaction runs and retries;
//! - `guards`: the outage breaker and the in-process account locks.

mod asks;
pub mod audit;
pub mod directory;
pub mod error;
pub mod feed;
mod guards;
mod history;
pub mod indexes;
pub mod journal;
mod migrate;
pub mod passwords;
mod recent;
mod rekey;
pub mod requests;
mod search;
mod since;
pub mod store;
mod transfers;
pub mod txn;
mod users;
pub mod validate;

pub(crate) use history::other_party;
pub use requests::{Role, MAX_PENDING, REQUEST_LIFETIME};
pub(crate) use since::live_entry;
pub use since::{LiveEntry, Missed, Position};
pub use txn::{transaction_options, TxnStats};
pub use users::{Import, ProfileUpdate, SignUp, Verified};

use crate::money::Money;
use crate::server::bank::passwords::Passwords;
use crate::server::changes::{Follower, Trust};
use asks::Asks;
use directory::Directory;
use guards::{AccountLocks, Outage};
use mongodb::bson::Document;
use mongodb::{Client, Collection, Database};
use std::sync::Arc;
use std::time::Duration;
use store::{AccountDoc, EntryDoc, IdempotencyDoc, UserDoc};

/// The starting grant of a new account: ₹1.00 to ₹10,000.00.
pub const MIN_GRANT: Money = Money::from_paise(100);
pub const MAX_GRANT: Money = Money::from_paise(1_000_000);
/// Search results per query unless asked for fewer.
pub const SEARCH_LIMIT: usize = 20;
/// History entries per page unless asked for fewer, and the most per page.
pub const HISTORY_LIMIT: usize = 20;
pub const HISTORY_MAX: usize = 100;

/// The service layer. Cheap to clone: every clone shares the same
/// connection pool, locks and counters.
#[derive(Clone)]
pub struct Bank {
    client: Client,
    users: Collection<UserDoc>,
    accounts: Collection<AccountDoc>,
    journal: Collection<EntryDoc>,
    idempotency: Collection<IdempotencyDoc>,
    migrations: Collection<Document>,
    requests: Collection<requests::RequestDoc>,
    blocks: Collection<Document>,
    /// How long a payment request can be paid.
    request_lifetime: Duration,
    passwords: Passwords,
    txn_time_limit: Duration,
    stats: Arc<TxnStats>,
    locks: Arc<AccountLocks>,
    outage: Arc<Outage>,
    /// Whether the instance's change stream is current, for the read
    /// models below (never, until [`Bank::following`]).
    trust: Trust,
    /// Search's read model; kept once the change stream feeds it.
    directory: Arc<Directory>,
    /// Payments' read model of pending requests, fed by the change stream.
    asks: Arc<Asks>,
}

impl Bank {
    pub fn new(client: Client, db: &Database, passwords: Passwords) -> Bank {
        Bank {
            client,
            users: db.collection(store::USERS),
            accounts: db.collection(store::ACCOUNTS),
            journal: db.collection(store::JOURNAL),
            idempotency: db.collection(store::IDEMPOTENCY),
            migrations: db.collection(store::MIGRATIONS),
            requests: db.collection(requests::REQUESTS),
            blocks: db.collection(requests::BLOCKS),
            request_lifetime: REQUEST_LIFETIME,
            passwords,
            txn_time_limit: Duration::from_secs(8),
            stats: Arc::default(),
            locks: Arc::new(AccountLocks::new(1024)),
            outage: Arc::default(),
            trust: Trust::never(),
            // No directory until one is asked for (`with_directory_max_users`).
            directory: Arc::new(Directory::new(0, Trust::never())),
            asks: Arc::new(Asks::new(Trust::never())),
        }
    }

    /// The bank with read models that answer while `trust` says the
    /// change stream is current; the stream must feed them
    /// ([`Bank::directory_follower`], [`Bank::asks_follower`]).
    pub fn following(mut self, trust: Trust) -> Bank {
        self.directory = Arc::new(Directory::new(self.directory.max_users(), trust.clone()));
        self.asks = Arc::new(Asks::new(trust.clone()));
        self.trust = trust;
        self
    }

    /// How long a transaction may keep retrying conflicts before the caller
    /// is told to try again (an HTTP request should not hang for long).
    pub fn with_txn_time_limit(mut self, limit: Duration) -> Bank {
        self.txn_time_limit = limit;
        self
    }

    /// Keeps at most `max_users` users' names in memory for search (0:
    /// always ask the database).
    pub fn with_directory_max_users(mut self, max_users: usize) -> Bank {
        self.directory = Arc::new(Directory::new(max_users, self.trust.clone()));
        self
    }

    /// Payment requests expire after `lifetime` (tests shorten it).
    pub fn with_request_lifetime(mut self, lifetime: Duration) -> Bank {
        self.request_lifetime = lifetime;
        self
    }

    pub fn stats(&self) -> &TxnStats {
        &self.stats
    }

    /// What keeps the asks of pending requests current.
    pub fn asks_follower(&self) -> Arc<dyn Follower> {
        self.asks.clone()
    }
}
