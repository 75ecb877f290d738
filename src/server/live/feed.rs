//! The live streams' share of the instance's change stream: new journal
//! entries and payment request changes, fanned out in process to the users
//! listening here. Whichever instance committed a change, every instance
//! sees it; each delivers it to its own streams.

use super::{Delivery, Live};
use crate::model::UserSummary;
use crate::server::bank::feed::{holders, live_changes, live_interests, LiveChange};
use crate::server::bank::journal::ISSUER;
use crate::server::bank::requests::RequestDoc;
use crate::server::bank::store::EntryDoc;
use crate::server::bank::{live_entry, other_party, Bank};
use crate::server::changes::{Change, Follower, Interest};
use futures::future::BoxFuture;
use futures::FutureExt;
use mongodb::bson::oid::ObjectId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// Changes read but not yet delivered, at most. Past it the stream does
/// not wait (the read models behind it must stay current): the changes are
/// dropped and every stream here catches up from the database instead.
const QUEUE: usize = 8192;

impl Live {
    /// What the change stream feeds: delivery runs on a task of its own,
    /// for as long as the process runs.
    pub fn follower(&self, bank: Bank) -> Arc<dyn Follower> {
        let (changes, arriving) = mpsc::channel(QUEUE);
        let feed = Arc::new(Feed {
            live: self.clone(),
            changes,
            overflowed: AtomicBool::new(false),
        });
        let mut delivery = Delivering {
            live: self.clone(),
            bank,
            names: HashMap::new(),
            feed: feed.clone(),
        };
        tokio::spawn(async move { delivery.run(arriving).await });
        feed
    }
}

/// Queues each change for delivery.
struct Feed {
    live: Live,
    changes: mpsc::Sender<LiveChange>,
    /// Changes were dropped (delivery fell behind): streams must catch up.
    overflowed: AtomicBool,
}

impl Follower for Feed {
    fn interests(&self) -> Vec<Interest> {
        live_interests()
    }

    fn apply(&self, change: &Change) {
        for change in live_changes(change) {
            if self.changes.try_send(change).is_err() {
                self.overflowed.store(true, Ordering::Release);
            }
        }
    }

    fn restart(&self) -> BoxFuture<'_, mongodb::error::Result<()>> {
        // Entries may have been missed: every stream catches up.
        self.live.catch_up_all();
        async { Ok(()) }.boxed()
    }
}

/// Delivers queued entries, every one waiting at once as a batch: under
/// load the names for a whole batch are one read, so delivery keeps up.
struct Delivering {
    live: Live,
    bank: Bank,
    names: HashMap<ObjectId, (UserSummary, Instant)>,
    feed: Arc<Feed>,
}

impl Delivering {
    async fn run(&mut self, mut arriving: mpsc::Receiver<LiveChange>) {
        let mut batch = Vec::new();
        while arriving.recv_many(&mut batch, BATCH).await > 0 {
            let (mut entries, mut requests, mut changed) = (Vec::new(), Vec::new(), Vec::new());
            for change in batch.drain(..) {
                match change {
                    LiveChange::Entry(entry) => entries.push(entry),
                    LiveChange::Request(request) => requests.push(request),
                    LiveChange::RequestChanged(id) => changed.push(id),
                }
            }
            self.deliver(entries).await;
            self.deliver_requests(requests, changed).await;
            if self.feed.overflowed.swap(false, Ordering::AcqRel) {
                tracing::warn!("live delivery fell behind: streams catch up from the database");
                self.live.catch_up_all();
            }
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
            .flat_map(|entry| holders(entry).map(move |holder| (entry, holder)))
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
