//! What the instance's change stream means for live streams: the bank's
//! documents read here, so the fan-out (`server/live/`) handles only what
//! it delivers.

use super::journal::ISSUER;
use super::requests::{RequestDoc, REQUESTS};
use super::store::{EntryDoc, JOURNAL};
use crate::server::changes::{Change, Interest, Op, Updates};
use mongodb::bson::oid::ObjectId;

/// What a change means for live streams.
#[derive(Debug)]
pub(crate) enum LiveChange {
    Entry(EntryDoc),
    /// A new request, in full.
    Request(RequestDoc),
    /// A request was paid (its entry came too), declined or cancelled, or
    /// changed past the bank: its id. The stream does not look it up (a
    /// read per change on every instance); delivery reads a batch of them
    /// at once, and only when someone listens.
    RequestChanged(ObjectId),
}

/// The journal and the requests: the live streams' collections.
pub(crate) fn live_interests() -> Vec<Interest> {
    vec![
        Interest {
            collection: JOURNAL,
            updates: Updates::None,
        },
        Interest {
            collection: REQUESTS,
            updates: Updates::All,
        },
    ]
}

/// What `change` (of a collection in [`live_interests`]) means for live
/// streams.
pub(crate) fn live_changes(change: &Change) -> Vec<LiveChange> {
    let mut changes = Vec::with_capacity(2);
    match (change.collection.as_str(), change.op, &change.document) {
        (JOURNAL, Op::Insert, Some(doc)) => {
            if let Ok(entry) = mongodb::bson::from_document::<EntryDoc>(doc.clone()) {
                // An entry paying a request is also that request's change.
                changes.extend(entry.request.map(LiveChange::RequestChanged));
                changes.insert(0, LiveChange::Entry(entry));
            }
        }
        (REQUESTS, Op::Insert, Some(doc)) => {
            changes.extend(mongodb::bson::from_document(doc.clone()).ok().map(LiveChange::Request));
        }
        (REQUESTS, Op::Drop, _) | (JOURNAL, ..) => {}
        (REQUESTS, ..) => changes.extend(change.object_id().map(LiveChange::RequestChanged)),
        _ => {}
    }
    changes
}

/// The holders of `entry` that have an account (not the issuer).
pub(crate) fn holders(entry: &EntryDoc) -> impl Iterator<Item = ObjectId> + '_ {
    [entry.from, entry.to].into_iter().filter(|holder| *holder != ISSUER)
}
