//! Two in-process guards in front of the database: the outage breaker
//! (answer "unavailable" at once while the database is known to be gone) and
//! the account locks (transfers in this process that touch one account take
//! turns instead of conflicting).

use crate::server::bank::error::BankError;
use mongodb::bson::oid::ObjectId;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// Remembers that the database was just found unreachable, so transfers
/// queued behind one that found out answer "unavailable" at once instead of
/// each waiting out its own server-selection timeout.
#[derive(Default)]
pub struct Outage {
    /// When the last "unreachable" was seen.
    seen: std::sync::Mutex<Option<Instant>>,
}

impl Outage {
    /// How long one sighting counts: as long as finding out again would
    /// take a request. After it, the next request tries the database again.
    const HOLD: Duration = crate::server::db::SERVER_SELECTION_TIMEOUT;

    pub fn record(&self, error: &BankError) {
        if matches!(error, BankError::Db(_)) && error.is_unavailable() {
            *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }

    pub fn check(&self) -> Result<(), BankError> {
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen {
            Some(at) if at.elapsed() < Self::HOLD => Err(BankError::Busy("the database is unreachable".into())),
            _ => Ok(()),
        }
    }
}

/// In-process locks over accounts, striped: transfers in this process that
/// touch the same account take turns instead of racing into a write
/// conflict, retrying and wasting a database round trip each time. They are
/// an optimisation only: correctness comes from the transaction (other
/// instances still conflict, and are retried).
pub struct AccountLocks {
    stripes: Vec<Mutex<()>>,
}

/// Both accounts' turn; released when dropped.
pub type Turn<'a> = (MutexGuard<'a, ()>, Option<MutexGuard<'a, ()>>);

impl AccountLocks {
    pub fn new(stripes: usize) -> AccountLocks {
        AccountLocks {
            stripes: (0..stripes.max(1)).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(&self, id: &ObjectId) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        (h.finish() % self.stripes.len() as u64) as usize
    }

    /// Locks both accounts' stripes, lower stripe first so two transfers in
    /// opposite directions cannot deadlock; gives up at `deadline`.
    pub async fn lock_pair(&self, a: &ObjectId, b: &ObjectId, deadline: Instant) -> Result<Turn<'_>, BankError> {
        let (i, j) = (self.stripe(a), self.stripe(b));
        let (first, second) = (i.min(j), i.max(j));
        let deadline = tokio::time::Instant::from_std(deadline);
        let timed_out = |_| BankError::Busy("timed out waiting for the accounts' turn".into());
        let g1 = tokio::time::timeout_at(deadline, self.stripes[first].lock())
            .await
            .map_err(timed_out)?;
        let g2 = if second != first {
            Some(
                tokio::time::timeout_at(deadline, self.stripes[second].lock())
                    .await
                    .map_err(timed_out)?,
            )
        } else {
            None
        };
        Ok((g1, g2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pair_waits_for_its_turn_and_gives_up_at_the_deadline() {
        let locks = AccountLocks::new(8);
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let soon = || Instant::now() + Duration::from_millis(50);
        let held = locks.lock_pair(&a, &b, soon()).await.unwrap();
        // The same pair the other way round waits, then gives up.
        assert!(matches!(locks.lock_pair(&b, &a, soon()).await, Err(BankError::Busy(_))));
        drop(held);
        assert!(locks.lock_pair(&b, &a, soon()).await.is_ok());
        // One account on both sides is one stripe, locked once.
        assert!(locks.lock_pair(&a, &a, soon()).await.is_ok());
    }

    /// The breaker trips on an unreachable database and on nothing else,
    /// answers `Busy` while the sighting counts, and lets requests through
    /// again once `HOLD` has passed.
    #[test]
    fn the_breaker_holds_only_for_unreachable() {
        let busy = |outage: &Outage| matches!(outage.check(), Err(BankError::Busy(_)));
        let outage = Outage::default();
        assert!(outage.check().is_ok(), "closed before any error");
        // A business outcome, a database error that is not about reaching
        // it, and a `Busy` of the bank's own (unavailable, but not a sighting
        // of the database): none trips it.
        for not_an_outage in [
            BankError::InsufficientBalance,
            BankError::Db(mongodb::error::Error::custom("a failed write")),
            BankError::Busy("still conflicting".into()),
        ] {
            outage.record(&not_an_outage);
            assert!(outage.check().is_ok(), "tripped by {not_an_outage:?}");
        }
        // The database unreachable: every check answers busy at once.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let unreachable = BankError::Db(refused.into());
        assert!(unreachable.is_unavailable());
        outage.record(&unreachable);
        assert!(busy(&outage), "an unreachable database must trip the breaker");
        assert!(busy(&outage), "and it stays tripped");
        // Held until HOLD has passed since the sighting, not longer.
        let seen_ago = |ago: Duration| *outage.seen.lock().unwrap() = Some(Instant::now() - ago);
        seen_ago(Outage::HOLD - Duration::from_millis(500));
        assert!(busy(&outage), "released before HOLD");
        seen_ago(Outage::HOLD);
        assert!(outage.check().is_ok(), "still held after HOLD");
        // A business outcome after a sighting does not clear it.
        outage.record(&unreachable);
        outage.record(&BankError::InsufficientBalance);
        assert!(busy(&outage), "cleared by a business outcome");
    }
}
