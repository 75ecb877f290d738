//! The integration-test harness: one SecantusDB per test binary, started on
//! first use (or `PAISA_TEST_MONGODB_URI` to use another server), and a fresh
//! database per test so tests run in parallel without seeing each other.

#![allow(dead_code)]

use paisa::server::auth::Sessions;
use paisa::server::bank::{Bank, SignUp};
use paisa::server::embedded::EmbeddedMongo;
use paisa::server::{db, AppState};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

fn server_uri() -> String {
    if let Ok(uri) = std::env::var("PAISA_TEST_MONGODB_URI") {
        return uri;
    }
    static SERVER: OnceLock<EmbeddedMongo> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let secantusd = std::env::var_os("SECANTUSD")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".venv/bin/secantusd-py"));
            EmbeddedMongo::start(&secantusd, ":memory:".as_ref())
                .expect("start SecantusDB for tests (run scripts/setup)")
        })
        .uri()
}

pub const TEST_SECRET: &[u8] = b"integration-test-secret-of-32-bytes-or-more";

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
        let (client, db) = db::connect(&server_uri(), &name)
            .await
            .expect("connect to the test database");
        db::ensure_indexes(&db).await.expect("indexes");
        let options = leptos::config::LeptosOptions::builder().output_name("paisa").build();
        let sessions = Sessions::new(TEST_SECRET, Duration::from_secs(3600)).unwrap();
        let state = AppState::new(options, client.clone(), db.clone(), sessions);
        TestEnv { state, db, client }
    }

    pub fn bank(&self) -> &Bank {
        &self.state.bank
    }

    /// The bank as a second app instance on the same database would run it:
    /// its own in-process account locks, so the two really conflict.
    pub fn other_instance(&self) -> Bank {
        Bank::new(self.client.clone(), &self.db, paisa::server::auth::Passwords::new(2))
    }

    /// Signs up a user with a fresh email; returns their id.
    pub async fn user(&self, first: &str, last: &str) -> mongodb::bson::oid::ObjectId {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        self.bank()
            .sign_up(SignUp {
                username: format!("{}.{}.{n}@example.com", first.to_lowercase(), last.to_lowercase()),
                first_name: first.into(),
                last_name: last.into(),
                password: "correct horse battery".into(),
            })
            .await
            .expect("sign up")
    }

    /// Serves the real router on an ephemeral port; returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = self.state.clone();
        tokio::spawn(async move {
            paisa::server::serve_on(listener, state, std::future::pending())
                .await
                .unwrap()
        });
        format!("http://{addr}")
    }
}
