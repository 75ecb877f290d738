//! The instance's one change stream on journal inserts, fanned out in
//! process to the users listening here. Whichever instance committed an
//! entry, every instance sees it; each delivers it to its own streams.

use super::{Delivery, Live};
use crate::model::UserSummary;
use crate::server::bank::journal::ISSUER;
use crate::server::bank::store::EntryDoc;
use crate::server::bank::{live_entry, other_party, Bank};
use futures::StreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::change_stream::event::{OperationType, ResumeToken};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a name read for a notice is reused: a renamed user may be
/// shown under their old name in live notices for this long (history and
/// every page read the name afresh).
const NAME_TTL: Duration = Duration::from_secs(60);
/// Names remembered before the cache starts over.
const NAME_LIMIT: usize = 50_000;

impl Live {
    /// Follows the journal for as long as the process runs. After an error
    /// (a database restart, a dropped connection) it resumes from its
    /// resume token, so entries committed meanwhile still arrive; when it
    /// cannot resume, every stream catches up from the database instead.
    pub fn follow(&self, bank: Bank) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            let mut feed = Feed {
                live,
                bank,
                resume: None,
                names: HashMap::new(),
            };
            loop {
                if let Err(e) = feed.run().await {
                    tracing::warn!(error = %e, "journal change stream interrupted; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }
}

struct Feed {
    live: Live,
    bank: Bank,
    resume: Option<ResumeToken>,
    names: HashMap<ObjectId, (UserSummary, Instant)>,
}

impl Feed {
    async fn run(&mut self) -> mongodb::error::Result<()> {
        let mut stream = match self.bank.watch_journal(self.resume.clone()).await {
            Ok(stream) => stream,
            Err(e) if self.resume.is_some() => {
                tracing::warn!(error = %e, "cannot resume the journal change stream: streams catch up from the database");
                self.resume = None;
                let stream = self.bank.watch_journal(None).await?;
                self.live.catch_up_all();
                stream
            }
            Err(e) => return Err(e),
        };
        while let Some(event) = stream.next().await {
            let event = event?;
            match (event.operation_type, event.full_document) {
                (OperationType::Insert, Some(entry)) => self.deliver(entry).await,
                (OperationType::Invalidate, _) => {
                    // The journal was dropped or renamed: start afresh.
                    self.resume = None;
                    self.live.catch_up_all();
                    return Ok(());
                }
                _ => {}
            }
            self.resume = stream.resume_token();
        }
        Ok(())
    }

    /// Hands `entry` to its holders' streams on this instance, if any.
    async fn deliver(&mut self, entry: EntryDoc) {
        let listening: Vec<_> = [entry.from, entry.to]
            .into_iter()
            .filter(|&holder| holder != ISSUER)
            .filter_map(|holder| self.live.listeners(holder).map(|to| (holder, to)))
            .collect();
        if listening.is_empty() {
            return;
        }
        let others: Vec<ObjectId> = listening
            .iter()
            .map(|(holder, _)| other_party(*holder, &entry))
            .collect();
        let people = self.names(&others).await;
        for (holder, to) in listening {
            let seen = live_entry(holder, &entry, &people);
            let _ = to.send(Delivery::Entry(Arc::new(seen)));
        }
    }

    /// The names of `ids`, from the cache or one read. A failed read leaves
    /// them unnamed rather than hold up the feed (the entry is delivered;
    /// history has the name).
    async fn names(&mut self, ids: &[ObjectId]) -> Vec<UserSummary> {
        let now = Instant::now();
        let missing: Vec<ObjectId> = ids
            .iter()
            .copied()
            .filter(|id| *id != ISSUER)
            .filter(|id| self.names.get(id).is_none_or(|(_, at)| now - *at >= NAME_TTL))
            .collect();
        if !missing.is_empty() {
            match self.bank.names(&missing).await {
                Ok(found) => {
                    if self.names.len() + found.len() > NAME_LIMIT {
                        self.names.clear();
                    }
                    for person in found {
                        if let Ok(id) = ObjectId::parse_str(&person.id) {
                            self.names.insert(id, (person, now));
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "names for a live notice not read"),
            }
        }
        ids.iter()
            .filter_map(|id| self.names.get(id).map(|(person, _)| person.clone()))
            .collect()
    }
}
