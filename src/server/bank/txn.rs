//! How every bank transaction runs, in one place: the options (snapshot
//! reads; majority, journaled writes), the retry policy around the body, and
//! the counters that show how hard transactions had to try.

use super::guards::Outage;
use super::Bank;
use crate::server::bank::error::BankError;
use futures::future::BoxFuture;
use mongodb::options::{Acknowledgment, ReadConcern, TransactionOptions, WriteConcern};
use mongodb::ClientSession;
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters for tests and the benchmark: how hard transactions had to try.
#[derive(Debug, Default)]
pub struct TxnStats {
    pub commits: AtomicU64,
    pub retries: AtomicU64,
    pub commit_retries: AtomicU64,
}

/// Snapshot reads; majority, journaled writes: a confirmed transfer
/// survives a database crash.
pub fn transaction_options() -> TransactionOptions {
    TransactionOptions::builder()
        .read_concern(ReadConcern::snapshot())
        .write_concern(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .build(),
        )
        .build()
}

/// The bounds of one transaction's retries.
pub struct Retry<'a> {
    /// After this, a still-conflicting transaction answers `Busy` (503).
    pub deadline: Instant,
    pub stats: &'a TxnStats,
    /// Told of every "unreachable" seen, when there is a breaker.
    pub outage: Option<&'a Outage>,
}

impl Retry<'_> {
    fn seen(&self, error: BankError) -> BankError {
        if let Some(outage) = self.outage {
            outage.record(&error);
        }
        error
    }
}

/// Runs `body` as one transaction on `session` and commits it; `context` is
/// handed to each attempt (as in the driver's `and_run`, so the body can
/// borrow without the lifetime trouble of a capturing closure).
///
/// An `Err` from the body (a business outcome or a hard error) aborts and is
/// returned. A TransientTransactionError (a write conflict) reruns the whole
/// body after a jittered backoff, until `retry.deadline`; a commit whose
/// result is unknown is retried alone. An unreachable database is answered at
/// once: retrying would only make the caller wait.
pub async fn run<C, T, F>(
    session: &mut ClientSession,
    retry: Retry<'_>,
    mut context: C,
    mut body: F,
) -> Result<T, BankError>
where
    F: for<'s> FnMut(&'s mut ClientSession, &'s mut C) -> BoxFuture<'s, Result<T, BankError>>,
{
    let mut attempt = 0;
    loop {
        if let Err(e) = session.start_transaction().with_options(transaction_options()).await {
            return Err(retry.seen(e.into()));
        }
        let error = match body(session, &mut context).await {
            Ok(value) => match commit(session, &retry).await {
                Ok(()) => {
                    retry.stats.commits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e) => e,
            },
            // An unreachable server ends the transaction by itself; an abort
            // would only add another server-selection wait.
            Err(e) if e.is_unavailable() => e,
            Err(e) => {
                let _ = session.abort_transaction().await;
                e
            }
        };
        // An unreachable database is labelled transient inside a transaction
        // too, but retrying it only makes the caller wait: answer at once.
        let error = retry.seen(error);
        if error.is_unavailable() || !error.is_transient() {
            return Err(error);
        }
        if Instant::now() >= retry.deadline {
            return Err(BankError::Busy(format!(
                "transaction still conflicting after {attempt} retries: {error}"
            )));
        }
        retry.stats.retries.fetch_add(1, Ordering::Relaxed);
        attempt += 1;
        tokio::time::sleep(backoff(attempt)).await;
    }
}

async fn commit(session: &mut ClientSession, retry: &Retry<'_>) -> Result<(), BankError> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            // Retrying the commit against an unreachable database only
            // makes the caller wait; its outcome is unknown either way,
            // and a retry with the same idempotency key settles it.
            Err(e)
                if e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && Instant::now() < retry.deadline
                    && !BankError::from(e.clone()).is_unavailable() =>
            {
                retry.stats.commit_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Full-jitter exponential backoff: uniform in [0, min(100 ms, 2 ms · 2^n)].
pub fn backoff(attempt: u32) -> Duration {
    let cap_us = (2_000u64 << attempt.min(6)).min(100_000);
    Duration::from_micros(rand::thread_rng().gen_range(0..=cap_us))
}

impl Bank {
    /// When a transaction starting now must have finished retrying.
    pub(super) fn deadline(&self) -> Instant {
        Instant::now() + self.txn_time_limit
    }

    /// Runs `body` as one transaction under the bank's retry policy and
    /// outage breaker; see [`run`].
    pub(super) async fn in_transaction<C, T, F>(&self, deadline: Instant, context: C, body: F) -> Result<T, BankError>
    where
        F: for<'s> FnMut(&'s mut ClientSession, &'s mut C) -> BoxFuture<'s, Result<T, BankError>>,
    {
        let retry = Retry {
            deadline,
            stats: &self.stats,
            outage: Some(&self.outage),
        };
        let mut session = match self.client.start_session().await {
            Ok(session) => session,
            Err(e) => return Err(retry.seen(e.into())),
        };
        run(&mut session, retry, context, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `backoff` promises, from its doc, computed here on its own:
    /// uniform in [0, min(100 ms, 2 ms · 2^attempt)].
    fn promised_cap(attempt: u32) -> Duration {
        let doubled = Duration::from_millis(2).saturating_mul(2u32.saturating_pow(attempt));
        doubled.min(Duration::from_millis(100))
    }

    /// Full jitter under a cap that doubles per attempt up to 100 ms: every
    /// wait within [0, cap]; the waits spread over the whole range (some in
    /// its lowest tenth, some in its highest, a mean near the middle, many
    /// different values), so the cap is reached, grows, and the jitter
    /// really varies.
    #[test]
    fn backoff_is_bounded() {
        const SAMPLES: u32 = 2_000;
        let mut previous_longest = Duration::ZERO;
        for attempt in 0..50 {
            let cap = promised_cap(attempt);
            let waits: Vec<Duration> = (0..SAMPLES).map(|_| backoff(attempt)).collect();
            let longest = *waits.iter().max().unwrap();
            let shortest = *waits.iter().min().unwrap();
            let mean = waits.iter().sum::<Duration>() / SAMPLES;
            let distinct: std::collections::HashSet<&Duration> = waits.iter().collect();
            assert!(
                longest <= cap,
                "attempt {attempt}: waited {longest:?}, over the cap {cap:?}"
            );
            assert!(
                longest >= cap * 9 / 10,
                "attempt {attempt}: longest {longest:?}, cap {cap:?} never approached"
            );
            assert!(
                shortest <= cap / 10,
                "attempt {attempt}: shortest {shortest:?}, no jitter down to 0"
            );
            assert!(
                mean >= cap * 45 / 100 && mean <= cap * 55 / 100,
                "attempt {attempt}: mean {mean:?}, not uniform over [0, {cap:?}]"
            );
            assert!(
                distinct.len() > 100,
                "attempt {attempt}: only {} different waits",
                distinct.len()
            );
            // Growing: twice as long a cap per attempt until 100 ms.
            if cap < Duration::from_millis(100) {
                assert!(
                    longest > previous_longest,
                    "attempt {attempt}: longest {longest:?} did not grow"
                );
            }
            previous_longest = longest;
        }
        assert_eq!(promised_cap(0), Duration::from_millis(2));
        assert_eq!(promised_cap(5), Duration::from_millis(64));
        assert_eq!(promised_cap(6), Duration::from_millis(100));
    }
}
