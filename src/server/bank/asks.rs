//! What pending requests ask, in memory: a payment needs the request's
//! parties, amount, note and expiry before it starts (the accounts'
//! in-process turn), and reading them was the one database operation a
//! payment did beyond a transfer's. The instance's change stream, which
//! brings every new request in full anyway, keeps them here; a request's
//! close or paying entry removes it, and a payment of one not here reads it.
//!
//! What an ask does not say is whether the request was closed since: a
//! payment's transaction refuses a request closed in the last
//! [`CLOSED_KEPT`](super::requests::CLOSED_KEPT) (ten minutes; listed on the
//! requester's account), and anything closed before that was removed here
//! when the stream brought the close. So asks are trusted only while the
//! stream is current ([`Trust`], within [`LAG_LIMIT`]: far inside the ten
//! minutes); after it starts afresh they are all forgotten.

use super::requests::{RequestDoc, REQUESTS};
use super::store::JOURNAL;
use crate::server::changes::{Change, Follower, Interest, Op, Trust, Updates, LAG_LIMIT};
use futures::future::BoxFuture;
use futures::FutureExt;
use mongodb::bson::{oid::ObjectId, DateTime};
use std::collections::HashMap;
use std::sync::Mutex;

// A close stays listed far longer than the stream may lag.
const _: () = assert!(LAG_LIMIT.as_secs() * 5 <= super::requests::CLOSED_KEPT.as_secs());
/// Asks kept at most (about 100 bytes each without a note: 10 MB in
/// all): requests made past it are read when paid.
pub const MAX_ASKS: usize = 100_000;

/// What a pending request asks, compactly: it never changes.
struct Ask {
    from: ObjectId,
    to: ObjectId,
    amount: i64,
    created_at: i64,
    expires_at: i64,
    note: Option<Box<str>>,
}

impl Ask {
    fn of(request: &RequestDoc) -> Ask {
        Ask {
            from: request.from,
            to: request.to,
            amount: request.amount,
            created_at: request.created_at.timestamp_millis(),
            expires_at: request.expires_at.timestamp_millis(),
            note: request.note.as_deref().map(Box::from),
        }
    }

    /// The request `id` as stored, pending.
    fn request(&self, id: ObjectId) -> RequestDoc {
        RequestDoc {
            id,
            from: self.from,
            to: self.to,
            amount: self.amount,
            note: self.note.as_deref().map(str::to_owned),
            status: "pending".to_owned(),
            created_at: DateTime::from_millis(self.created_at),
            expires_at: DateTime::from_millis(self.expires_at),
        }
    }
}

/// The pending requests the stream has brought.
pub struct Asks {
    asks: Mutex<HashMap<ObjectId, Ask>>,
    trust: Trust,
}

impl Asks {
    pub fn new(trust: Trust) -> Asks {
        Asks {
            asks: Mutex::default(),
            trust,
        }
    }

    /// A new request, pending when made.
    pub fn remember(&self, request: &RequestDoc) {
        let mut asks = self.lock();
        if request.status != "pending" {
            return;
        }
        if asks.len() >= MAX_ASKS {
            // Full: those expired make room (a request nobody answers is
            // never closed).
            let now = DateTime::now().timestamp_millis();
            asks.retain(|_, ask| ask.expires_at > now);
        }
        if asks.len() < MAX_ASKS {
            asks.insert(request.id, Ask::of(request));
        }
    }

    /// Request `id` was closed or paid.
    pub fn forget(&self, id: ObjectId) {
        self.lock().remove(&id);
    }

    /// What the stream brought may be out of date.
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    /// Request `id`'s ask, if the stream brought it, it is unexpired and
    /// the stream is current.
    pub fn get(&self, id: ObjectId, now: DateTime) -> Option<RequestDoc> {
        if !self.trust.is_current() {
            return None;
        }
        let mut asks = self.lock();
        let ask = asks.get(&id)?;
        if ask.expires_at <= now.timestamp_millis() {
            asks.remove(&id);
            return None;
        }
        Some(ask.request(id))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectId, Ask>> {
        self.asks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Follower for Asks {
    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest {
                collection: REQUESTS,
                updates: Updates::All,
            },
            // An entry naming a request is its payment.
            Interest {
                collection: JOURNAL,
                updates: Updates::None,
            },
        ]
    }

    fn apply(&self, change: &Change) {
        match (change.collection.as_str(), change.op) {
            (REQUESTS, Op::Insert) => {
                let made = change.document.clone().map(mongodb::bson::from_document::<RequestDoc>);
                if let Some(Ok(request)) = made {
                    self.remember(&request);
                }
            }
            // The collection dropped or renamed.
            (REQUESTS, Op::Drop) => self.forget_all(),
            // Closed, or changed or deleted past the bank.
            (REQUESTS, _) => {
                if let Some(id) = change.object_id() {
                    self.forget(id);
                }
            }
            (JOURNAL, Op::Insert) => {
                // Only whether it pays a request: no need to read it all.
                let paid = change.document.as_ref().and_then(|d| d.get_object_id("request").ok());
                if let Some(id) = paid {
                    self.forget(id);
                }
            }
            _ => {}
        }
    }

    fn restart(&self) -> BoxFuture<'_, mongodb::error::Result<()>> {
        self.forget_all();
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(expires_in_secs: i64) -> RequestDoc {
        let now = DateTime::now().timestamp_millis();
        RequestDoc {
            id: ObjectId::new(),
            from: ObjectId::new(),
            to: ObjectId::new(),
            amount: 100,
            note: None,
            status: "pending".into(),
            created_at: DateTime::from_millis(now),
            expires_at: DateTime::from_millis(now + expires_in_secs * 1000),
        }
    }

    fn change(collection: &str, op: Op, id: ObjectId, document: Option<mongodb::bson::Document>) -> Change {
        Change {
            collection: collection.into(),
            op,
            id: Some(id.into()),
            document,
            updated: None,
        }
    }

    #[test]
    fn an_ask_is_trusted_only_while_the_stream_is_current() {
        let r = request(3600);
        let behind = Asks::new(Trust::never());
        behind.remember(&r);
        assert!(behind.get(r.id, DateTime::now()).is_none());
        let asks = Asks::new(Trust::current());
        asks.remember(&r);
        assert_eq!(asks.get(r.id, DateTime::now()).unwrap().amount, 100);
    }

    #[test]
    fn the_stream_brings_asks_and_takes_them_away() {
        let asks = Asks::new(Trust::current());
        let (paid, declined, kept) = (request(3600), request(3600), request(3600));
        for r in [&paid, &declined, &kept] {
            asks.apply(&change(REQUESTS, Op::Insert, r.id, mongodb::bson::to_document(r).ok()));
        }
        assert_eq!(asks.len(), 3);
        let entry = mongodb::bson::doc! { "_id": ObjectId::new(), "request": paid.id };
        asks.apply(&change(JOURNAL, Op::Insert, ObjectId::new(), Some(entry)));
        asks.apply(&change(REQUESTS, Op::Update, declined.id, None));
        let now = DateTime::now();
        assert!(asks.get(paid.id, now).is_none(), "paid by the entry");
        assert!(asks.get(declined.id, now).is_none(), "closed");
        assert!(asks.get(kept.id, now).is_some());
        futures::executor::block_on(asks.restart()).unwrap();
        assert!(
            asks.get(kept.id, now).is_none(),
            "forgotten when the stream starts afresh"
        );
    }

    #[test]
    fn closed_paid_expired_or_not_pending_requests_are_not_asks() {
        let asks = Asks::new(Trust::current());
        let (closed, expired, live) = (request(3600), request(-1), request(3600));
        let mut legacy = request(3600);
        legacy.status = "declined".into();
        for r in [&closed, &expired, &live, &legacy] {
            asks.remember(r);
        }
        asks.forget(closed.id);
        let now = DateTime::now();
        assert!(asks.get(closed.id, now).is_none());
        assert!(asks.get(expired.id, now).is_none());
        assert!(asks.get(legacy.id, now).is_none());
        assert!(asks.get(live.id, now).is_some());
        assert_eq!(asks.len(), 1);
    }
}
