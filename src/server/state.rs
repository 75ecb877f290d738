//! What every request handler shares, built once at start.

use crate::server::auth::sessions::SessionStore;
use crate::server::auth::throttle::{Limits, Throttle};
use crate::server::auth::tokens::Tokens;
use crate::server::auth::AuthContext;
use crate::server::bank::passwords::Passwords;
use crate::server::bank::Bank;
use crate::server::changes::Changes;
use crate::server::config::{self, Config, ConnectionLimits};
use crate::server::live::Live;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use mongodb::Database;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

/// How long any request may take. The MongoDB driver has no socket timeout,
/// so a database that stops answering without closing its connections would
/// hold requests forever; past this limit the request is dropped (the driver
/// aborts an open transaction) and the client gets a 503 to retry. Above the
/// bank's transaction retry limit (8 s), which answers first when it can.
pub const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Cloned by every extractor of every request: one shared allocation, so
/// a clone is a reference count (cloning the fields themselves, keys,
/// options and a dozen collection handles, costs a tenth of the server's
/// CPU on a balance read).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields read through it (`state.bank`).
/// Changing one (settings, tests) before the state is shared costs
/// nothing; after, it changes a copy.
#[derive(Clone)]
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub db: Database,
    /// The instance's one change stream, which feeds the read models.
    pub changes: Changes,
    pub bank: Bank,
    pub tokens: Tokens,
    pub sessions: SessionStore,
    /// The live streams open on this instance.
    pub live: Live,
    pub throttle: Throttle,
    pub cookie_secure: bool,
    pub trust_forwarded_for: bool,
    /// Origins allowed to call the API from other sites, each checked.
    pub cors_origins: Vec<String>,
    /// How many connections this instance holds, and for how long.
    pub connections: ConnectionLimits,
    /// How long any request may take before it is answered 503.
    pub request_time_limit: Duration,
    /// Where people reach this site (`https://paisa.example`), for the pay
    /// links they share; none: the address each request came to.
    pub public_url: Option<String>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// The state over a connected database, with the defaults of every
    /// setting that `from_config` reads.
    pub fn new(leptos_options: LeptosOptions, client: mongodb::Client, db: Database, tokens: Tokens) -> AppState {
        // Argon2 at 19 MiB a hash, CPU-bound: one at a time per core; more
        // would only add memory, not throughput.
        let passwords = Passwords::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let changes = Changes::on_database(&db);
        let bank = Bank::new(client, &db, passwords)
            .following(changes.trust())
            .with_directory_max_users(config::DEFAULT_SEARCH_MEMORY_MAX_USERS);
        let sessions = SessionStore::new(&db, tokens.ttl(), changes.trust());
        AppState(Arc::new(Shared {
            leptos_options,
            db,
            changes,
            bank,
            tokens,
            sessions,
            live: Live::new(config::DEFAULT_MAX_STREAMS),
            throttle: Throttle::new(Limits::default()),
            cookie_secure: false,
            trust_forwarded_for: false,
            cors_origins: Vec::new(),
            connections: ConnectionLimits::default(),
            request_time_limit: REQUEST_TIME_LIMIT,
            public_url: None,
        }))
    }

    /// The state with the operator's settings; a setting that cannot work
    /// is refused with a message saying why.
    pub fn from_config(
        config: &Config,
        leptos_options: LeptosOptions,
        client: mongodb::Client,
        db: Database,
        tokens: Tokens,
    ) -> Result<AppState, String> {
        let mut state = AppState::new(leptos_options, client, db, tokens);
        state.cookie_secure = config.cookie_secure;
        state.trust_forwarded_for = config.trust_forwarded_for;
        state.cors_origins = config::cors_origins(&config.cors_origins)?;
        state.live = Live::new(config.max_live_streams);
        // Behind our own proxy every client shares its address: the proxy
        // bounds each client's connections.
        state.connections.per_address = (!config.trust_forwarded_for && config.max_connections_per_address > 0)
            .then_some(config.max_connections_per_address);
        state.bank = state
            .bank
            .clone()
            .with_directory_max_users(config.search_memory_max_users);
        state.public_url = config::public_url(config.public_url.as_deref())?;
        Ok(state)
    }

    /// Starts following the database's changes, as every instance must
    /// before it serves: sessions (the session cache), users (search),
    /// requests (payments' asks), new journal entries and requests (the
    /// live streams); and writing sessions' "last seen" in batches.
    pub fn follow_changes(&self) {
        self.changes.follow(self.sessions.follower());
        self.changes.follow(Arc::new(self.bank.directory_follower()));
        self.changes.follow(self.bank.asks_follower());
        self.changes.follow(self.live.follower(self.bank.clone()));
        self.changes.start();
        self.sessions.store_last_seen_in_batches();
    }
}

impl AuthContext for AppState {
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
    fn sessions(&self) -> &SessionStore {
        &self.sessions
    }
    fn throttle(&self) -> &Throttle {
        &self.throttle
    }
    fn bank(&self) -> &Bank {
        &self.bank
    }
    fn cookie_secure(&self) -> bool {
        self.cookie_secure
    }
    fn trust_forwarded_for(&self) -> bool {
        self.trust_forwarded_for
    }
}
