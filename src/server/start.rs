//! Starting and stopping: configuration, the database (embedded unless
//! MONGODB_URI is set), indexes, the HTTP server; on SIGINT or SIGTERM,
//! drain requests, then stop the embedded database.

use crate::server::audit_command;
use crate::server::auth::tokens::Tokens;
use crate::server::config::{Command, Config};
use crate::server::db;
use crate::server::embedded::EmbeddedMongo;
use crate::server::state::{AppState, REQUEST_TIME_LIMIT};
use std::process::ExitCode;
use std::time::Duration;

/// How long a shutdown waits for requests in flight to finish.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// Runs Paisa until it is told to stop, or runs the command it was given.
pub async fn run() -> ExitCode {
    let config = Config::load();
    if let Some(Command::Audit(args)) = config.command {
        return audit_command::run(args).await;
    }
    init_tracing(&config.log);
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("paisa: {message}");
            ExitCode::FAILURE
        }
    }
}

pub use crate::server::http::connections::serve_on;

async fn serve(config: Config) -> Result<(), String> {
    let mut leptos_options = leptos::config::get_configuration(None)
        .map_err(|e| format!("Leptos configuration: {e}"))?
        .leptos_options;
    if leptos_options.output_name.is_empty() {
        leptos_options.output_name = "paisa".into();
    }
    leptos_options.site_addr = config.site_addr;
    config.check()?;
    let tokens = Tokens::from_config(
        config.jwt_secret.as_deref(),
        &config.data_dir,
        Duration::from_secs(config.session_ttl_minutes * 60),
    )?;
    let (embedded, client, db) = open_database(&config).await?;
    let state = AppState::from_config(&config, leptos_options, client, db, tokens)?;
    state
        .bank
        .migrate()
        .await
        .map_err(|e| format!("cannot bring the data into the journal: {e}"))?;
    state.follow_changes();
    let addr = config.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("listening on http://{addr}");
    // On a signal: stop accepting, let requests in flight finish (each is
    // bounded by the request time limit), then stop. The drain limit is a
    // backstop for a connection that will not close.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let sessions = state.sessions.clone();
    let server = serve_on(listener, state, async move {
        shutdown_signal().await;
        let _ = stopping.send(());
    });
    let drain_limit = async {
        if stopped.await.is_ok() {
            tokio::time::sleep(DRAIN_LIMIT).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.map_err(|e| format!("server error: {e}"))?,
        _ = drain_limit => tracing::warn!("requests still open after {DRAIN_LIMIT:?}: stopping anyway"),
    }
    // "Last seen" this instance noted but has not written yet, for as long
    // as a request may take (a database that is gone does not hold the stop).
    if tokio::time::timeout(REQUEST_TIME_LIMIT, sessions.store_last_seen_now())
        .await
        .is_err()
    {
        tracing::warn!("last seen not all written before stopping");
    }
    tracing::info!("stopped");
    if let Some(mut db) = embedded {
        db.stop();
    }
    Ok(())
}

/// Connects to MONGODB_URI, or starts the embedded database and connects to
/// it; then creates the indexes and ends transactions a killed instance
/// left open. (The journal migration runs once the bank is built.)
async fn open_database(config: &Config) -> Result<(Option<EmbeddedMongo>, mongodb::Client, mongodb::Database), String> {
    let mut embedded = None;
    let uri = match &config.mongodb_uri {
        Some(uri) => uri.clone(),
        None => {
            let storage = config.data_dir.join("db");
            let db = EmbeddedMongo::start(&config.secantusd, &storage)
                .map_err(|e| format!("cannot start the embedded database: {e}"))?;
            tracing::info!(port = db.port(), storage = %storage.display(), "embedded SecantusDB started");
            let db = embedded.insert(db);
            if let Err(e) = db.advertise(&config.data_dir) {
                tracing::warn!(error = %e, "cannot leave the database's address in DATA_DIR for paisa audit");
            }
            db.uri()
        }
    };
    let (client, db) = db::connect(&uri, &config.mongodb_db).await?;
    ensure_indexes(&db)
        .await
        .map_err(|e| format!("cannot create indexes: {e}"))?;
    // The embedded database is Paisa's alone: every session there is ours.
    db::end_abandoned_transactions(&client, embedded.is_some() || config.end_all_sessions_at_start).await;
    Ok((embedded, client, db))
}

/// Creates every index, each owner its own; idempotent, run at each start.
pub async fn ensure_indexes(db: &mongodb::Database) -> mongodb::error::Result<()> {
    crate::server::bank::indexes::ensure_indexes(db).await?;
    crate::server::auth::sessions::ensure_indexes(db).await?;
    // What expires (sessions, their log, idempotency records) is removed
    // by each instance, through these.
    crate::server::expiry::ensure_indexes(db).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = sigterm => {},
    }
    tracing::info!("shutting down: draining requests");
}

fn init_tracing(directives: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|e| {
        eprintln!("paisa: ignoring the log filter {directives:?} ({e}); using info");
        EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
