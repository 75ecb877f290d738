//! The instance's one change stream on journal inserts and payment request
//! changes, fanned out in process to the users listening here. Whichever
//! instance committed a change, every instance sees it; each delivers it to
//! its own streams. It also keeps the bank's memory of what pending
//! requests ask (`bank/asks.rs`), from which payments start.

use super::{Delivery, Live};
use crate::model::UserSummary;
use crate::server::bank::journal::ISSUER;
use crate::server::bank::requests::{RequestDoc, REQUESTS};
use crate::server::bank::store::{EntryDoc, JOURNAL};
use crate::server::bank::{live_entry, other_party, Bank};
use futures::StreamExt;
use mongodb::bson::{from_document, oid::ObjectId};
use mongodb::change_stream::event::{OperationType, ResumeToken};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// How long a name read for a notice is reused: a renamed user may be
/// shown under their old name in live notices for this long (history and
/// every page read the name afresh).
const NAME_TTL: Duration = Duration::from_secs(60);
/// Names remembered before the cache starts over.
const NAME_LIMIT: usize = 50_000;
/// Most entries delivered together.
const BATCH: usize = 512;
/// Entries read but not yet delivered, at most; the change stream waits
/// beyond (the database keeps them).
const QUEUE: usize = 8192;

impl Live {
    /// Follows the journal for as long as the process runs. After an error
    /// (a database restart, a dropped connection) it resumes from its
    /// resume token, so entries committed meanwhile still arrive; when it
    /// cannot resume, every stream catches up from the database instead.
    pub fn follow(&self, bank: Bank) -> tokio::task::JoinHandle<()> {
        let (entries, arriving) = mpsc::channel(QUEUE);
        let mut delivery = Delivering {
            live: self.clone(),
            bank: bank.clone(),
            names: HashMap::new(),
        };
        tokio::spawn(async move { delivery.run(arriving).await });
        let live = self.clone();
        tokio::spawn(async move {
            let mut feed = Feed {
                live,
                bank,
                resume: None,
                entries,
            };
            loop {
                if let Err(e) = feed.run().await {
                    tracing::warn!(error = %e, "journal change stream interrupted; reconnecting");
                }
                // What it brought may be out of date until it runs again.
                feed.bank.asks().forget_all();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }
}

/// What the change stream tells of.
enum Change {
    Entry(EntryDoc),
    /// A new request, in full.
    Request(RequestDoc),
    /// A request was paid (its entry came too), declined or cancelled: its id. The
    /// stream does not look it up (that would be a read per change on every
    /// instance); delivery reads a batch of them at once, and only when
    /// someone listens here.
    RequestChanged(ObjectId),
}

/// Reads the change stream and queues each change for delivery.
struct Feed {
    live: Live,
    bank: Bank,
    resume: Option<ResumeToken>,
    entries: mpsc::Sender<Change>,
}

/// Delivers queued entries, every one waiting at once as a batch: under
/// load the names for a whole batch are one read, so delivery keeps up.
struct Delivering {
    live: Live,
    bank: Bank,
    names: HashMap<ObjectId, (UserSummary, Instant)>,
}

impl Feed {
    async fn run(&mut self) -> mongodb::error::Result<()> {
        let mut stream = match self.bank.watch_changes(self.resume.clone()).await {
            Ok(stream) => stream,
            Err(e) if self.resume.is_some() => {
                tracing::warn!(error = %e, "cannot resume the journal change stream: streams catch up from the database");
                self.resume = None;
                let stream = self.bank.watch_changes(None).await?;
                self.live.catch_up_all();
                stream
            }
            Err(e) => return Err(e),
        };
        while let Some(event) = stream.next().await {
            let event = event?;
            if matches!(
                event.operation_type,
                OperationType::Invalidate | OperationType::DropDatabase
            ) {
                // The database was dropped: start afresh.
                self.resume = None;
                self.live.catch_up_all();
                return Ok(());
            }
            let asks = self.bank.asks();
            asks.heard(event.cluster_time);
            let collection = event.ns.as_ref().and_then(|ns| ns.coll.as_deref());
            let key = event.document_key.as_ref().and_then(|k| k.get_object_id("_id").ok());
            let mut changes = Vec::with_capacity(2);
            match (collection, event.full_document) {
                (Some(JOURNAL), Some(doc)) => {
                    if let Ok(entry) = from_document::<EntryDoc>(doc) {
                        // An entry paying a request is also that request's change.
                        changes.extend(entry.request.map(Change::RequestChanged));
                        changes.insert(0, Change::Entry(entry));
                    }
                }
                (Some(REQUESTS), Some(doc)) if event.operation_type == OperationType::Insert => {
                    changes.extend(from_document(doc).ok().map(Change::Request));
                }
                // Closed, or changed or deleted past the bank.
                (Some(REQUESTS), _) if key.is_some() => changes.extend(key.map(Change::RequestChanged)),
                // The collection dropped or renamed.
                (Some(REQUESTS), _) => asks.forget_all(),
                _ => {}
            }
            for change in &changes {
                match change {
                    Change::Request(request) => asks.remember(request),
                    Change::RequestChanged(id) => asks.forget(*id),
                    Change::Entry(_) => {}
                }
            }
            for change in changes {
                if self.entries.send(change).await.is_err() {
                    // Delivery has stopped: so has the process.
                    return Ok(());
                }
            }
            self.resume = stream.resume_token();
        }
        Ok(())
    }
}

impl Delivering {
    async fn run(&mut self, mut arriving: mpsc::Receiver<Change>) {
        let mut batch = Vec::new();
        while arriving.recv_many(&mut batch, BATCH).await > 0 {
            let (mut entries, mut requests, mut changed) = (Vec::new(), Vec::new(), Vec::new());
            for change in batch.drain(..) {
                match change {
                    Change::Entry(entry) => entries.push(entry),
                    Change::Request(request) => requests.push(request),
                    Change::RequestChanged(id) => changed.push(id),
                }
            }
            self.deliver(entries).await;
            self.deliver_requests(requests, changed).await;
        }
    }

    /// Hands each new or changed request to both parties' streams here,
    /// if any; the changed ones are read first (one read for the batch,
    /// none while nobody listens here), as they are now.
    async fn deliver_requests(&mut self, mut requests: Vec<RequestDoc>, mut changed: Vec<ObjectId>) {
        if !changed.is_empty() && self.live.open() > 0 {
            changed.sort();
            changed.dedup();
            // The stream has moved past these changes: a failed read is
            // tried again (a database restart takes a few seconds).
            let mut now = None;
            for wait in [0, 250, 1000, 4000] {
                tokio::time::sleep(Duration::from_millis(wait)).await;
                match self.bank.requests_by_id(&changed).await {
                    Ok(found) => {
                        now = Some(found);
                        break;
                    }
                    Err(e) => tracing::debug!(error = %e, "changed requests not read for live streams"),
                }
            }
            if let Some(now) = now {
                // As they are now supersedes as they were made.
                requests.retain(|r| changed.binary_search(&r.id).is_err());
                requests.extend(now);
            } else {
                tracing::warn!(
                    requests = changed.len(),
                    "changed requests not delivered to live streams"
                );
            }
        }
        let requests: Vec<RequestDoc> = requests
            .into_iter()
            .filter(|r| self.live.listeners(r.from).is_some() || self.live.listeners(r.to).is_some())
            .collect();
        if requests.is_empty() {
            return;
        }
        let views = match self.bank.views(requests).await {
            Ok(views) => views,
            Err(e) => {
                tracing::debug!(error = %e, "request changes not delivered");
                return;
            }
        };
        for view in views {
            let view = Arc::new(view);
            for party in [&view.from.id, &view.to.id] {
                let listeners = ObjectId::parse_str(party).ok().and_then(|p| self.live.listeners(p));
                if let Some(to) = listeners {
                    let _ = to.send(Delivery::Request(view.clone()));
                }
            }
        }
    }

    /// Hands each entry to its holders' streams on this instance, if any,
    /// in order.
    async fn deliver(&mut self, entries: Vec<EntryDoc>) {
        let listening: Vec<(&EntryDoc, ObjectId, broadcast::Sender<Delivery>)> = entries
            .iter()
            .flat_map(|entry| [(entry, entry.from), (entry, entry.to)])
            .filter(|(_, holder)| *holder != ISSUER)
            .filter_map(|(entry, holder)| self.live.listeners(holder).map(|to| (entry, holder, to)))
            .collect();
        if listening.is_empty() {
            return;
        }
        let others: Vec<ObjectId> = listening
            .iter()
            .map(|(entry, holder, _)| other_party(*holder, entry))
            .collect();
        let people = self.names(&others).await;
        for (entry, holder, to) in listening {
            let seen = live_entry(holder, entry, &people);
            let _ = to.send(Delivery::Entry(Arc::new(seen)));
        }
    }

    /// The names of `ids`, from the cache or one read. A failed read leaves
    /// them unnamed rather than hold up the feed (the entry is delivered;
    /// history has the name).
    async fn names(&mut self, ids: &[ObjectId]) -> Vec<UserSummary> {
        let now = Instant::now();
        let mut missing: Vec<ObjectId> = ids
            .iter()
            .copied()
            .filter(|id| *id != ISSUER)
            .filter(|id| self.names.get(id).is_none_or(|(_, at)| now - *at >= NAME_TTL))
            .collect();
        missing.sort();
        missing.dedup();
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
