//! The integration-test harness: one SecantusDB per test binary, started on
//! first use (or `PAISA_TEST_MONGODB_URI` to use another server), and a fresh
//! database per test so tests run in parallel without seeing each other.
//!
//! Test users are seeded through the bank's bulk import with one argon2 hash
//! computed once per process ([`password_hash`]), so only the tests about
//! sign-up, sign-in and passwords pay for argon2. Database helpers are in
//! [`db`], HTTP and request helpers in [`http`].

#![allow(dead_code)]

pub mod db;
pub mod http;
pub mod sse;

use mongodb::bson::oid::ObjectId;
use paisa::money::Money;
use paisa::server::auth::tokens::Tokens;
use paisa::server::bank::{Bank, Import, MAX_GRANT, MIN_GRANT};
use paisa::server::embedded::EmbeddedMongo;
use paisa::server::state::AppState;
use rand::Rng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub const TEST_SECRET: &[u8] = b"integration-test-secret-of-32-bytes-or-more";
/// Every seeded user's password.
pub const PASSWORD: &str = "correct horse battery";

/// The SecantusDB launcher: `SECANTUSD`, or the one `scripts/setup` installs.
pub fn secantusd() -> PathBuf {
    std::env::var_os("SECANTUSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/secantusd-py"))
}

/// The test server's address.
pub fn server_uri() -> String {
    if let Ok(uri) = std::env::var("PAISA_TEST_MONGODB_URI") {
        return uri;
    }
    static SERVER: OnceLock<EmbeddedMongo> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            EmbeddedMongo::start(&secantusd(), ":memory:".as_ref())
                .expect("start SecantusDB for tests (run scripts/setup)")
        })
        .uri()
}

/// The argon2id hash of [`PASSWORD`] (PHC string, the app's parameters),
/// computed once per process.
pub fn password_hash() -> &'static str {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        argon2::Argon2::default()
            .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .expect("hash the test password")
            .to_string()
    })
}

/// A user to import: [`PASSWORD`] (already hashed) and a random starting
/// balance in the range sign-up grants.
pub fn seed(username: String, first: &str, last: &str) -> Import {
    let balance = Money::from_paise(rand::thread_rng().gen_range(MIN_GRANT.paise()..=MAX_GRANT.paise()));
    Import {
        username,
        first_name: first.into(),
        last_name: last.into(),
        password_hash: password_hash().to_owned(),
        balance,
    }
}

fn leptos_options() -> leptos::config::LeptosOptions {
    leptos::config::LeptosOptions::builder().output_name("paisa").build()
}

fn test_tokens() -> Tokens {
    Tokens::new(TEST_SECRET, Duration::from_secs(3600)).unwrap()
}

/// One test's world: its own database, a bank over it, the app state.
pub struct TestEnv {
    pub state: AppState,
    pub db: mongodb::Database,
    pub client: mongodb::Client,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let (client, db) = paisa::server::db::connect(&server_uri(), &name)
            .await
            .expect("connect to the test database");
        paisa::server::start::ensure_indexes(&db).await.expect("indexes");
        let state = AppState::new(leptos_options(), client.clone(), db.clone(), test_tokens());
        // As at a start: the issuer, the (empty) journal migration, and the
        // change streams (ended sessions, live streams, search).
        state.bank.migrate().await.expect("migrate");
        state.follow_changes();
        TestEnv { state, db, client }
    }

    pub fn bank(&self) -> &Bank {
        &self.state.bank
    }

    /// The bank of a second instance ([`TestEnv::other_instance_state`]):
    /// its own in-process account locks, so the two really conflict.
    pub fn other_instance(&self) -> Bank {
        self.other_instance_state().bank.clone()
    }

    /// The app state of a second instance on the same database, started as
    /// `paisa` starts one: its own bank (account locks), session cache and
    /// live streams. Every test with two instances builds the second here.
    pub fn other_instance_state(&self) -> AppState {
        self.other_instance_state_with(|_| {})
    }

    /// [`TestEnv::other_instance_state`], its state first changed by `adjust`
    /// (before it follows the change stream).
    pub fn other_instance_state_with(&self, adjust: impl FnOnce(&mut AppState)) -> AppState {
        let mut state = AppState::new(leptos_options(), self.client.clone(), self.db.clone(), test_tokens());
        adjust(&mut state);
        state.follow_changes();
        state
    }

    /// Seeds a user with a fresh email (see [`seed`]); returns their id.
    pub async fn user(&self, first: &str, last: &str) -> ObjectId {
        self.users([(first, last)]).await[0]
    }

    /// Seeds users (first and last names), in one import; their ids in order.
    pub async fn users<F: AsRef<str>, L: AsRef<str>>(&self, names: impl IntoIterator<Item = (F, L)>) -> Vec<ObjectId> {
        static N: AtomicU32 = AtomicU32::new(0);
        let batch: Vec<Import> = names
            .into_iter()
            .map(|(first, last)| {
                let (first, last) = (first.as_ref(), last.as_ref());
                let n = N.fetch_add(1, Ordering::Relaxed);
                let email = format!("{}.{}.{n}@example.com", first.to_lowercase(), last.to_lowercase());
                seed(email, first, last)
            })
            .collect();
        self.bank().import(&batch).await.expect("import test users")
    }

    /// A session token for `user`, as signing in would give: a new session.
    pub async fn token(&self, user: ObjectId) -> String {
        let device = paisa::server::auth::sessions::Device::default();
        paisa::server::auth::sign_in::open(&self.state, user, &device)
            .await
            .expect("open a session")
    }

    /// Serves the real router on an ephemeral port; returns its base URL.
    pub async fn serve(&self) -> String {
        serve(self.state.clone()).await
    }
}

/// Serves the real router over `state` on an ephemeral port; returns its
/// base URL.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        paisa::server::start::serve_on(listener, state, std::future::pending())
            .await
            .unwrap()
    });
    format!("http://{addr}")
}

/// App state over a "database" that accepts connections and never answers
/// (a hung server: the driver has no socket timeout), with requests cut at
/// `time_limit`.
pub async fn hung_database_state(time_limit: Duration) -> AppState {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=30000");
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let db = client.database("hung");
    let mut state = AppState::new(leptos_options(), client, db, test_tokens());
    state.request_time_limit = time_limit;
    state
}
