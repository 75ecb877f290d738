//! The database connection, a leaf under everything that uses it:
//! connecting, pinging, opening the one change stream (`changes/`) and
//! dropping an index an earlier release made. Each owner of a collection
//! creates its own indexes (`start::ensure_indexes` calls them in order).

use mongodb::bson::{doc, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use mongodb::change_stream::ChangeStream;
use mongodb::options::{ClientOptions, FullDocumentType};
use mongodb::{Client, Database};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a database operation waits for a reachable server before
/// failing: requests answer 503 within about this long when the database is
/// gone.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects and checks that the server answers, so a wrong URI or a stopped
/// database fails at start with one clear line instead of on first request.
pub async fn connect(uri: &str, db_name: &str) -> Result<(Client, Database), String> {
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| format!("invalid MONGODB_URI: {e}"))?;
    options.app_name = Some("paisa".into());
    // Fail fast when the database is down: requests get a 503 within a few
    // seconds rather than hanging for the driver's default 30.
    options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
    options.connect_timeout = Some(Duration::from_secs(3));
    // Close pooled connections idle for 4 minutes: the embedded database
    // drops its side after 5, and a request that picked such a connection
    // would fail (503) instead of opening a fresh one.
    options.max_idle_time = Some(Duration::from_secs(240));
    let client = Client::with_options(options).map_err(|e| format!("invalid MONGODB_URI: {e}"))?;
    let db = client.database(db_name);
    db.run_command(doc! { "ping": 1 })
        .await
        .map_err(|e| format!("cannot reach MongoDB: {e}"))?;
    Ok((client, db))
}

/// A connection for a long read (`paisa audit`): it waits for a busy
/// database instead of taking it for gone. The embedded database serves
/// one request at a time, so a long read delays the driver's heartbeats:
/// with the usual patience the driver would declare it unreachable and
/// cut the read. Connect with [`connect`] first, so a database that is
/// really gone is still found out at once.
pub async fn connect_patiently(uri: &str, db_name: &str, patience: Duration) -> Result<(Client, Database), String> {
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| format!("invalid MONGODB_URI: {e}"))?;
    options.app_name = Some("paisa-audit".into());
    options.server_selection_timeout = Some(patience);
    options.connect_timeout = Some(patience);
    options.heartbeat_freq = Some(Duration::from_secs(10));
    let client = Client::with_options(options).map_err(|e| format!("invalid MONGODB_URI: {e}"))?;
    let db = client.database(db_name);
    Ok((client, db))
}

/// Ends the sessions, and so the open transactions, that Paisa's database
/// user left behind: an instance that was killed mid-transfer leaves its
/// transaction holding its accounts' write locks until the server's
/// transaction lifetime limit (60 s by default), and every transfer touching
/// them conflicts until then. Run at start, so a restarted instance clears
/// them at once. Live instances' transactions that this also ends abort with
/// a transient error and are retried. Scoped to the authenticated user; on a
/// server without authentication only when `only_client` (Paisa is the
/// database's only client). Best effort: a user without the privilege gets
/// a warning and the lifetime limit.
pub async fn end_abandoned_transactions(client: &Client, only_client: bool) {
    let admin = client.database("admin");
    let users = match admin.run_command(doc! { "connectionStatus": 1 }).await {
        Ok(status) => status
            .get_document("authInfo")
            .ok()
            .and_then(|a| a.get_array("authenticatedUsers").ok())
            .cloned()
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the connection status; abandoned transactions are left to expire");
            return;
        }
    };
    let users: Vec<mongodb::bson::Bson> = users
        .into_iter()
        .filter_map(|u| {
            let u = u.as_document()?;
            Some(doc! { "user": u.get_str("user").ok()?, "db": u.get_str("db").ok()? }.into())
        })
        .collect();
    // Without authentication `killAllSessions []` ends every session on the
    // server, other applications' too: only when Paisa is its only client.
    if users.is_empty() && !only_client {
        tracing::info!("the database has no authentication: abandoned transactions are left to expire");
        return;
    }
    match admin.run_command(doc! { "killAllSessions": users }).await {
        Ok(_) => tracing::info!("ended sessions left open by earlier instances"),
        Err(e) => tracing::warn!(error = %e, "cannot end abandoned sessions; they expire by themselves"),
    }
}

/// Opens a change stream on the whole database, just after `resume` (or
/// from now), with whole documents for updates. The one place a stream is
/// opened: `changes/` owns the instance's only one, which
/// [`streams_opened`] lets a test check.
pub async fn watch(
    db: &Database,
    pipeline: Vec<Document>,
    resume: Option<ResumeToken>,
) -> mongodb::error::Result<ChangeStream<ChangeStreamEvent<Document>>> {
    let stream = db
        .watch()
        .pipeline(pipeline)
        .full_document(FullDocumentType::UpdateLookup)
        .resume_after(resume)
        .await?;
    *opened()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(db.name().to_owned())
        .or_default() += 1;
    Ok(stream)
}

/// Change streams opened on the database `name` by this process.
pub fn streams_opened(name: &str) -> usize {
    opened()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(name)
        .copied()
        .unwrap_or(0)
}

fn opened() -> &'static Mutex<HashMap<String, usize>> {
    static OPENED: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    OPENED.get_or_init(Mutex::default)
}

/// Whether the database answers a ping right now.
pub async fn ping(db: &Database) -> bool {
    tokio::time::timeout(Duration::from_secs(2), db.run_command(doc! { "ping": 1 }))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Drops an index an earlier release made, if it is there (another
/// instance starting too may have dropped it first); one left is logged.
pub async fn drop_old_index(collection: &mongodb::Collection<mongodb::bson::Document>, name: &str) {
    if let Err(e) = collection.drop_index(name).await {
        // 27: no such index (already dropped, or never made).
        if !matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 27) {
            tracing::warn!(error = %e, index = name, "an old index was not dropped");
        }
    }
}
