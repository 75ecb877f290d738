//! What pending requests ask, in memory: a payment needs the request's
//! parties, amount, note and expiry before it starts (the accounts'
//! in-process turn), and reading them was the one database operation a
//! payment did beyond a transfer's. The live feed's change stream, which
//! receives every new request in full anyway, keeps them here
//! ([`Asks::remember`]); a request's close or payment removes it
//! ([`Asks::forget`]), and a payment of one not here reads it.
//!
//! What an ask does not say is whether the request was closed since: a
//! payment's transaction refuses a request closed in the last
//! [`CLOSED_KEPT`](super::requests::CLOSED_KEPT) (ten minutes; listed on the
//! requester's account), and anything closed before that was removed here
//! when the stream brought the close. So asks are trusted only while the
//! stream is open and its last change is less than [`LAG_LIMIT`] old
//! (the database's clock against this instance's: they may be minutes
//! apart and still within the ten); after the stream fails they are all
//! forgotten.

use super::requests::RequestDoc;
use mongodb::bson::{oid::ObjectId, DateTime, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How far behind the database the stream may be for asks to be trusted.
/// A close stays listed on the requester's account for
/// [`CLOSED_KEPT`](super::requests::CLOSED_KEPT): what is left of it
/// (nine minutes) is the room for the clocks of the database, this
/// instance and the instances that close requests to disagree.
pub const LAG_LIMIT: Duration = Duration::from_secs(60);
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

/// The pending requests the stream has brought, and how current it is.
#[derive(Default)]
pub struct Asks {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    asks: HashMap<ObjectId, Ask>,
    /// The cluster time of the last change the stream brought (seconds);
    /// none while it is not open.
    heard: Option<u32>,
}

impl Asks {
    /// The stream brought a change made at `at`.
    pub fn heard(&self, at: Option<Timestamp>) {
        let mut inner = self.lock();
        if let Some(at) = at {
            inner.heard = Some(inner.heard.map_or(at.time, |h| h.max(at.time)));
        }
    }

    /// A new request, pending when made.
    pub fn remember(&self, request: &RequestDoc) {
        let mut inner = self.lock();
        if request.status != "pending" {
            return;
        }
        if inner.asks.len() >= MAX_ASKS {
            // Full: those expired make room (a request nobody answers is
            // never closed).
            let now = DateTime::now().timestamp_millis();
            inner.asks.retain(|_, ask| ask.expires_at > now);
        }
        if inner.asks.len() < MAX_ASKS {
            inner.asks.insert(request.id, Ask::of(request));
        }
    }

    /// Request `id` was closed or paid.
    pub fn forget(&self, id: ObjectId) {
        self.lock().asks.remove(&id);
    }

    /// The stream failed: what it brought may be out of date.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.asks.clear();
        inner.heard = None;
    }

    /// Request `id`'s ask, if the stream brought it, it is unexpired and
    /// the stream is current at `now`.
    pub fn get(&self, id: ObjectId, now: DateTime) -> Option<RequestDoc> {
        let mut inner = self.lock();
        let current = inner
            .heard
            .is_some_and(|heard| now.timestamp_millis() / 1000 - i64::from(heard) < LAG_LIMIT.as_secs() as i64);
        if !current {
            return None;
        }
        let ask = inner.asks.get(&id)?;
        if ask.expires_at <= now.timestamp_millis() {
            inner.asks.remove(&id);
            return None;
        }
        Some(ask.request(id))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().asks.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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

    fn at(secs_ago: i64) -> Option<Timestamp> {
        let time = (DateTime::now().timestamp_millis() / 1000 - secs_ago) as u32;
        Some(Timestamp { time, increment: 1 })
    }

    #[test]
    fn an_ask_is_trusted_only_while_the_stream_is_current() {
        let asks = Asks::default();
        let r = request(3600);
        asks.remember(&r);
        // Nothing heard yet: not trusted.
        assert!(asks.get(r.id, DateTime::now()).is_none());
        asks.heard(at(LAG_LIMIT.as_secs() as i64 + 5));
        assert!(asks.get(r.id, DateTime::now()).is_none());
        asks.heard(at(1));
        assert_eq!(asks.get(r.id, DateTime::now()).unwrap().amount, 100);
        // An older change heard late does not move it back.
        asks.heard(at(600));
        assert!(asks.get(r.id, DateTime::now()).is_some());
        asks.forget_all();
        assert!(asks.get(r.id, DateTime::now()).is_none());
        asks.heard(at(0));
        assert!(asks.get(r.id, DateTime::now()).is_none(), "forgotten with the failure");
    }

    #[test]
    fn closed_paid_expired_or_not_pending_requests_are_not_asks() {
        let asks = Asks::default();
        asks.heard(at(0));
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
