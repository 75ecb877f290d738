//! Keeping the directory current: a change stream on the users, opened
//! before everyone is read, so nothing made during the read is missed; a
//! resume token across errors; a fresh read whenever the stream cannot
//! resume or reports a change Paisa never makes (a delete, a drop).

use super::{Entry, Index};
use crate::server::bank::Bank;
use crate::server::db::watch_changes;
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// What a user document holds for the directory.
#[derive(Deserialize)]
struct NamesDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(rename = "firstName")]
    first_name: String,
    #[serde(rename = "lastName")]
    last_name: String,
    #[serde(default)]
    username: String,
}

impl From<NamesDoc> for Entry {
    fn from(doc: NamesDoc) -> Entry {
        Entry {
            id: doc.id,
            first_name: doc.first_name,
            last_name: doc.last_name,
            username: doc.username,
        }
    }
}

/// How one run of the stream ended.
enum Ended {
    /// Start again (after an error, or to read everyone afresh).
    Again,
    /// The directory is not kept: searches ask the database from now on.
    GaveUp,
}

impl Bank {
    /// Keeps this instance's search directory current for as long as the
    /// process runs (`start.rs` calls it once).
    pub fn follow_directory(&self) -> tokio::task::JoinHandle<()> {
        let bank = self.clone();
        tokio::spawn(async move {
            let mut resume: Option<ResumeToken> = None;
            // Failures in a row (a run that lasted a minute breaks the row).
            let mut failures = 0u32;
            loop {
                let began = Instant::now();
                match bank.follow_users(&mut resume).await {
                    Ok(Ended::GaveUp) => return,
                    Ok(Ended::Again) => failures = 0,
                    Err(e) => {
                        failures = if began.elapsed() > Duration::from_secs(60) {
                            1
                        } else {
                            failures + 1
                        };
                        // Twice in a row: the token may be what fails (the
                        // database can report lost history only once
                        // asked for more): read everyone afresh.
                        if failures >= 2 {
                            resume = None;
                        }
                        tracing::warn!(error = %e, failures, "users change stream interrupted; reconnecting");
                    }
                }
                bank.directory.set_live(false);
                // 0.5 s, doubling with each failure in a row, up to 32 s.
                let wait = Duration::from_millis(500) * 2u32.pow(failures.saturating_sub(1).min(6));
                tokio::time::sleep(wait).await;
            }
        })
    }

    async fn follow_users(&self, resume: &mut Option<ResumeToken>) -> mongodb::error::Result<Ended> {
        // Only changes to names: a user's other fields (a password, the
        // request counter) change more often and mean nothing here.
        let users = self.users.clone_with_type::<Document>();
        let mut stream = watch_changes(&users, &["firstName", "lastName"], resume, "users").await?;
        // Started afresh (or the stream could not resume): read everyone.
        if resume.is_none() && !self.load_directory().await? {
            return Ok(Ended::GaveUp);
        }
        // What changed while everyone was read, or while the stream was
        // down: applied before searches trust the directory again.
        while let Some(event) = stream.next_if_any().await? {
            if !self.apply_user_change(&event).await? {
                *resume = None;
                return Ok(Ended::Again);
            }
        }
        *resume = stream.resume_token();
        self.directory.set_live(true);
        while let Some(event) = stream.next().await {
            if !self.apply_user_change(&event?).await? {
                *resume = None;
                return Ok(Ended::Again);
            }
            if self.directory.is_off() {
                return Ok(Ended::GaveUp);
            }
            *resume = stream.resume_token();
        }
        Ok(Ended::Again)
    }

    /// Reads every user into the directory; false when they are too many
    /// to keep.
    async fn load_directory(&self) -> mongodb::error::Result<bool> {
        let began = Instant::now();
        self.directory.begin_load();
        let count = self.users.estimated_document_count().await? as usize;
        if !self.directory.holds(count) {
            self.directory.give_up(count, "too many users");
            return Ok(false);
        }
        // Straight into the index's compact records: no copy of everyone
        // held meanwhile (that would stay in the process as freed memory).
        let mut read = Index::default();
        let mut cursor = self
            .users
            .clone_with_type::<NamesDoc>()
            .find(doc! {})
            .projection(doc! { "firstName": 1, "lastName": 1, "username": 1 })
            .batch_size(1_000)
            .await?;
        let mut n = 0;
        while let Some(names) = cursor.try_next().await? {
            n += 1;
            if !self.directory.holds(n) {
                self.directory.give_up(n, "too many users");
                return Ok(false);
            }
            if read.push(&names.into()).is_err() {
                self.directory.give_up(n, "a name too long to hold");
                return Ok(false);
            }
        }
        if !self.directory.finish_load(read) {
            self.directory.give_up(n, "too many users");
            return Ok(false);
        }
        tracing::info!(
            users = n,
            seconds = began.elapsed().as_secs_f64(),
            "search directory loaded"
        );
        Ok(true)
    }

    /// Applies one change; false when everyone must be read again.
    async fn apply_user_change(&self, event: &ChangeStreamEvent<Document>) -> mongodb::error::Result<bool> {
        match event.operation_type {
            OperationType::Insert | OperationType::Replace => {
                let doc = event.full_document.clone().unwrap_or_default();
                match mongodb::bson::from_document::<NamesDoc>(doc) {
                    Ok(names) => self.directory.apply(&names.into()),
                    // Not a user Paisa wrote: read everyone afresh.
                    Err(_) => return Ok(false),
                }
            }
            OperationType::Update => {
                let Some(id) = event.document_key.as_ref().and_then(|k| k.get_object_id("_id").ok()) else {
                    return Ok(false);
                };
                let Some(changed) = event.update_description.as_ref().map(|u| &u.updated_fields) else {
                    return Ok(true);
                };
                let Some(mut entry) = self.known_or_read(id).await? else {
                    return Ok(true);
                };
                if let Ok(first) = changed.get_str("firstName") {
                    entry.first_name = first.to_owned();
                }
                if let Ok(last) = changed.get_str("lastName") {
                    entry.last_name = last.to_owned();
                }
                self.directory.apply(&entry);
            }
            // Paisa never deletes a user or drops the collection.
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A user as the directory knows them, or as the database has them.
    async fn known_or_read(&self, id: ObjectId) -> mongodb::error::Result<Option<Entry>> {
        if let Some(entry) = self.directory.get(id) {
            return Ok(Some(entry));
        }
        let found = self
            .users
            .clone_with_type::<NamesDoc>()
            .find_one(doc! { "_id": id })
            .projection(doc! { "firstName": 1, "lastName": 1, "username": 1 })
            .await?;
        Ok(found.map(Entry::from))
    }
}
