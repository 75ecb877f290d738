//! Connecting to MongoDB and creating the indexes the queries rely on.

use crate::server::bank::store;
use crate::server::config::SERVER_SELECTION_TIMEOUT;
use mongodb::bson::{doc, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use mongodb::change_stream::ChangeStream;
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use std::time::Duration;

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

/// Follows `collection`'s changes, leaving out updates that set none of
/// `fields` (they mean nothing to the follower), from just after `resume`
/// if the database can still resume there. If it cannot, from now, with
/// `resume` cleared: the caller must then start afresh (`what` names the
/// stream in the log).
pub async fn watch_changes(
    collection: &Collection<Document>,
    fields: &[&str],
    resume: &mut Option<ResumeToken>,
    what: &str,
) -> mongodb::error::Result<ChangeStream<ChangeStreamEvent<Document>>> {
    let mut wanted = vec![doc! { "operationType": { "$ne": "update" } }];
    wanted.extend(
        fields
            .iter()
            .map(|f| doc! { format!("updateDescription.updatedFields.{f}"): { "$exists": true } }),
    );
    let watch = |token: Option<ResumeToken>| {
        collection
            .watch()
            .pipeline([doc! { "$match": { "$or": wanted.clone() } }])
            .resume_after(token)
    };
    match watch(resume.clone()).await {
        Err(e) if resume.is_some() => {
            tracing::warn!(error = %e, "cannot resume the {what} change stream: starting afresh");
            *resume = None;
            watch(None).await
        }
        opened => opened,
    }
}

/// Whether the database answers a ping right now.
pub async fn ping(db: &Database) -> bool {
    tokio::time::timeout(Duration::from_secs(2), db.run_command(doc! { "ping": 1 }))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Drops an index an earlier release made, if it is there (another
/// instance starting too may have dropped it first); one left is logged.
pub(super) async fn drop_old_index(collection: &mongodb::Collection<mongodb::bson::Document>, name: &str) {
    if let Err(e) = collection.drop_index(name).await {
        // 27: no such index (already dropped, or never made).
        if !matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 27) {
            tracing::warn!(error = %e, index = name, "an old index was not dropped");
        }
    }
}

/// Creates every index; idempotent, run at each start.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    let unique = || IndexOptions::builder().unique(true).build();
    let index = |keys, options: Option<IndexOptions>| IndexModel::builder().keys(keys).options(options).build();
    db.collection::<mongodb::bson::Document>(store::USERS)
        .create_indexes([
            index(doc! { "username": 1 }, Some(unique())),
            // Search order is full name, then id: read in index order.
            index(doc! { "nameKey": 1, "_id": 1 }, None),
            index(doc! { "lastKey": 1 }, None),
        ])
        .await?;
    // The first release's name index, without the id (its order among
    // equal names was not the search's).
    drop_old_index(&db.collection(store::USERS), "nameKey_1").await;
    db.collection::<mongodb::bson::Document>(store::ACCOUNTS)
        .create_indexes([index(doc! { "userId": 1 }, Some(unique()))])
        .await?;
    let journal = db.collection::<mongodb::bson::Document>(store::JOURNAL);
    journal
        .create_indexes([
            index(doc! { "from": 1, "_id": -1 }, None),
            index(doc! { "to": 1, "_id": -1 }, None),
        ])
        .await?;
    // The first release also kept (sender, key) unique here; the
    // idempotency record's `_id` is that guard, and a key may be used again
    // once its record has expired.
    drop_old_index(&journal, "from_1_idempotencyKey_1").await;
    // A request is paid by one entry at most, and whether it was paid is
    // read here (sparse: transfers have no `request`; a partial index is
    // not used for `$in` on SecantusDB). Without it a request could be paid
    // twice: no start.
    let once = IndexOptions::builder().unique(true).sparse(true).build();
    journal
        .create_indexes([index(doc! { "request": 1 }, Some(once))])
        .await?;
    db.collection::<mongodb::bson::Document>(crate::server::bank::requests::REQUESTS)
        .create_indexes([
            index(doc! { "from": 1, "_id": -1 }, None),
            index(doc! { "to": 1, "_id": -1 }, None),
        ])
        .await?;
    crate::server::auth::sessions::ensure_indexes(db).await?;
    // What expires (sessions, their log, idempotency records) is removed
    // by each instance, through these.
    crate::server::expiry::ensure_indexes(db).await?;
    Ok(())
}
