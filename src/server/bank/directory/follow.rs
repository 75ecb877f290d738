//! Keeping the directory current from the instance's change stream
//! (`changes/`): a new user or new names as they come; everyone read
//! afresh whenever the stream starts afresh or reports a change Paisa
//! never makes (a delete, a drop). The read runs beside the stream: what
//! the stream brings meanwhile waits and is applied after it.

use super::{Entry, Index};
use crate::server::bank::store::USERS;
use crate::server::bank::Bank;
use crate::server::changes::{Change, Follower, Interest, Op, Updates};
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId};
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

/// Feeds the directory from the change stream.
pub struct DirectoryFollower {
    bank: Bank,
}

impl Bank {
    /// What keeps this instance's search directory current.
    pub fn directory_follower(&self) -> DirectoryFollower {
        DirectoryFollower { bank: self.clone() }
    }
}

impl Follower for DirectoryFollower {
    fn interests(&self) -> Vec<Interest> {
        // Only names: a user's other fields (a password, the request
        // counter) change more often and mean nothing here.
        vec![Interest {
            collection: USERS,
            updates: Updates::Fields(&["firstName", "lastName"]),
        }]
    }

    fn apply(&self, change: &Change) {
        let names = match change.op {
            // An update's document is the user as the stream looked it up
            // (none: gone since, which Paisa never does).
            Op::Insert | Op::Replace | Op::Update => change.document.clone(),
            Op::Delete | Op::Drop => {
                self.bank.reload_directory();
                return;
            }
        };
        match names.map(mongodb::bson::from_document::<NamesDoc>) {
            Some(Ok(names)) => self.bank.directory.apply(&names.into()),
            // Not a user Paisa wrote: read everyone afresh.
            Some(Err(_)) => self.bank.reload_directory(),
            None => {}
        }
    }

    fn restart(&self) -> BoxFuture<'_, mongodb::error::Result<()>> {
        self.bank.reload_directory();
        async { Ok(()) }.boxed()
    }
}

impl Bank {
    /// Reads everyone into the directory, beside the stream; a failed read
    /// is tried again (0.5 s, doubling, up to 32 s) unless another load
    /// has begun since.
    fn reload_directory(&self) {
        let load = self.directory.begin_load();
        let bank = self.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            while bank.directory.loading(load) {
                match bank.load_directory(load).await {
                    Ok(()) => return,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, failures, "search directory not read; trying again");
                        let wait = Duration::from_millis(500) * 2u32.pow(failures.saturating_sub(1).min(6));
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        });
    }

    /// Reads every user into the directory, unless they are too many to keep.
    async fn load_directory(&self, load: u64) -> mongodb::error::Result<()> {
        let began = Instant::now();
        let count = self.users.estimated_document_count().await? as usize;
        if !self.directory.holds(count) {
            self.directory.give_up(count, "too many users");
            return Ok(());
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
                return Ok(());
            }
            if read.push(&names.into()).is_err() {
                self.directory.give_up(n, "a name too long to hold");
                return Ok(());
            }
        }
        if !self.directory.finish_load(load, read) {
            self.directory.give_up(n, "too many users");
            return Ok(());
        }
        tracing::info!(
            users = n,
            seconds = began.elapsed().as_secs_f64(),
            "search directory loaded"
        );
        Ok(())
    }
}
