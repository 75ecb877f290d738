//! Passwords: argon2id, off the async runtime, in bounded and reused
//! working memory, behind a bounded queue.

use super::error::BankError;
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, PasswordHasher, Salt, SaltString};
use argon2::{Algorithm as Argon2Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Semaphore;

/// How many callers may wait for a hash, per hash that may run: beyond
/// that, a burst is told "busy" at once (503) rather than queued for longer
/// than a client would wait. A waiter holds no working memory; at ~35 ms a
/// hash, 16 waiters per permit wait at most about half a second.
pub const WAITERS_PER_PERMIT: usize = 16;

/// Hashes and verifies passwords with argon2id at the `argon2` crate's
/// defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommendation). Each hash
/// takes ~19 MiB and tens of milliseconds of CPU, so they run on the blocking
/// pool, at most `limit` at a time, with at most
/// [`WAITERS_PER_PERMIT`] × `limit` more callers waiting for their turn; a
/// caller past that gets [`BankError::Busy`] at once, so a burst of sign-ins
/// neither exhausts memory, nor starves the async runtime, nor builds a
/// queue without end.
///
/// A hash owns its permit (and its place in the queue) until it finishes,
/// even when its caller is gone (a cancelled request): `limit` bounds the
/// hashes actually running, not the callers still waiting for them. Each
/// runs in one of at most `limit` working memories kept for reuse, taken and
/// given back inside the blocking task: memory stays at `limit` × 19 MiB
/// however many sign-ins pass, instead of growing with the allocator's
/// per-thread arenas (measured: 700 MiB peak under a sign-in load before,
/// with a fresh 19 MiB allocation per hash).
#[derive(Clone)]
pub struct Passwords {
    /// One per hash that may run at once.
    permits: Arc<Semaphore>,
    /// One per caller in the building, running or waiting: `limit` plus the
    /// waiters.
    places: Arc<Semaphore>,
    memories: Arc<Mutex<Vec<Vec<Block>>>>,
    #[cfg(test)]
    probe: Arc<probe::Probe>,
}

impl Passwords {
    pub fn new(limit: usize) -> Passwords {
        let limit = limit.max(1);
        Passwords {
            permits: Arc::new(Semaphore::new(limit)),
            places: Arc::new(Semaphore::new(limit + limit * WAITERS_PER_PERMIT)),
            memories: Arc::default(),
            #[cfg(test)]
            probe: Arc::default(),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, BankError> {
        self.blocking(move |memory| {
            let salt = SaltString::generate(&mut OsRng);
            let params = Params::default();
            let output = argon2id(
                password.as_bytes(),
                salt.as_salt(),
                (Argon2Algorithm::Argon2id, Version::V0x13, params.clone()),
                Params::DEFAULT_OUTPUT_LEN,
                memory,
            )?;
            let phc = PasswordHash {
                algorithm: Argon2Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(internal("argon2 params"))?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user)
    /// a dummy hash is verified instead, so the answer takes as long either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, BankError> {
        self.blocking(move |memory| {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let parsed = PasswordHash::new(&phc).map_err(internal("stored hash"))?;
            let algorithm = Argon2Algorithm::try_from(parsed.algorithm).map_err(internal("stored hash"))?;
            let version = match parsed.version {
                Some(v) => Version::try_from(v).map_err(internal("stored hash"))?,
                None => Version::default(),
            };
            let params = Params::try_from(&parsed).map_err(internal("stored hash"))?;
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return Err(BankError::Internal("stored hash: no salt or hash".into()));
            };
            let output = argon2id(
                password.as_bytes(),
                salt,
                (algorithm, version, params),
                expected.len(),
                memory,
            )?;
            // `Output` compares in constant time.
            Ok(known && output == expected)
        })
        .await
    }

    /// Runs `f` on the blocking pool with a permit and a working memory,
    /// once a permit is free; [`BankError::Busy`] at once if the queue for
    /// permits is full.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> Result<T, BankError> + Send + 'static,
    ) -> Result<T, BankError> {
        let place = self
            .places
            .clone()
            .try_acquire_owned()
            .map_err(|_| BankError::Busy("password hashing queue is full".into()))?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| BankError::Internal(e.to_string()))?;
        let memories = Arc::clone(&self.memories);
        #[cfg(test)]
        let probe = Arc::clone(&self.probe);
        // From here on the task owns the permit, the place and the memory:
        // if the caller stops waiting (its request is cancelled), the hash
        // still finishes before either is given back.
        let task = tokio::task::spawn_blocking(move || {
            #[cfg(test)]
            let running = probe.start();
            // Holding a permit, a memory is free (or not yet made).
            let mut memory = lock(&memories).pop().unwrap_or_default();
            let result = f(&mut memory);
            // Given back before the permit, so the next holder finds it:
            // never more memories kept than permits.
            let mut kept = lock(&memories);
            kept.push(memory);
            #[cfg(test)]
            probe.kept(kept.len());
            drop(kept);
            #[cfg(test)]
            drop(running);
            drop((permit, place));
            result
        });
        task.await.map_err(|e| BankError::Internal(format!("hash task: {e}")))?
    }
}

fn lock(memories: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    memories.lock().unwrap_or_else(|p| p.into_inner())
}

fn internal<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> BankError {
    move |e| BankError::Internal(format!("{what}: {e}"))
}

/// One argon2 computation in `memory`, grown to the parameters' size if needed.
fn argon2id(
    password: &[u8],
    salt: Salt<'_>,
    (algorithm, version, params): (Argon2Algorithm, Version, Params),
    output_len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, BankError> {
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(internal("salt"))?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(internal("argon2"))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a real password, never matches", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// What the tests watch: hashes running at once, at most; memories kept,
/// at most.
#[cfg(test)]
mod probe {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[derive(Default)]
    pub struct Probe {
        pub running: AtomicUsize,
        pub most_running: AtomicUsize,
        pub most_kept: AtomicUsize,
    }

    /// One hash running, until dropped.
    pub struct Running<'a>(&'a Probe);

    impl Probe {
        pub fn start(&self) -> Running<'_> {
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most_running.fetch_max(now, SeqCst);
            Running(self)
        }

        pub fn kept(&self, memories: usize) {
            self.most_kept.fetch_max(memories, SeqCst);
        }
    }

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.running.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_hashes_are_standard_argon2id_phc_strings() {
        use argon2::password_hash::PasswordVerifier;
        let passwords = Passwords::new(2);
        let ours = passwords.hash("correct horse battery".into()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        // The stock verifier accepts ours, and ours accepts the stock hasher's.
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"correct horse batterY", &parsed)
            .is_err());
        let salt = SaltString::generate(&mut OsRng);
        let stock = Argon2::default()
            .hash_password(b"open sesame 123", &salt)
            .unwrap()
            .to_string();
        // Several times, so the reused memories are exercised too.
        for _ in 0..3 {
            assert!(passwords
                .verify("open sesame 123".into(), Some(stock.clone()))
                .await
                .unwrap());
            assert!(!passwords
                .verify("open sesame 124".into(), Some(stock.clone()))
                .await
                .unwrap());
            assert!(passwords
                .verify("correct horse battery".into(), Some(ours.clone()))
                .await
                .unwrap());
        }
        // No stored hash: never a match, however the password looks.
        assert!(!passwords
            .verify("not a real password, never matches".into(), None)
            .await
            .unwrap());
        assert!(passwords.memories.lock().unwrap().len() <= 2);
    }

    use futures::FutureExt;
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::{Duration, Instant};

    /// Waits until every call has let go of its place (every hash, cancelled
    /// or not, has finished).
    async fn settle(passwords: &Passwords, places: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while passwords.places.available_permits() < places {
            assert!(Instant::now() < deadline, "hashes still running after 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_with_cancellations_never_runs_more_hashes_than_permits() {
        let passwords = Passwords::new(2);
        let places = 2 + 2 * WAITERS_PER_PERMIT;
        let stored = passwords.hash("correct horse battery".into()).await.unwrap();
        let (mut done, mut cancelled, mut busy) = (0, 0, 0);
        for wave in 0..4u64 {
            // 6 more at once than there are places: 6 busy, and of those
            // let in, two in three are cancelled (dropped) after a few
            // milliseconds, some still waiting for a permit, some mid-hash.
            let calls = (0..places as u64 + 6).map(|i| {
                let passwords = passwords.clone();
                let stored = stored.clone();
                async move {
                    let call = async {
                        if i % 4 == 1 {
                            passwords.hash("another password".into()).await.map(|_| true)
                        } else {
                            passwords.verify("correct horse battery".into(), Some(stored)).await
                        }
                    };
                    match i % 3 {
                        0 => Some(call.await),
                        n => tokio::time::timeout(Duration::from_millis(n * (wave + 1) * 3), call)
                            .await
                            .ok(),
                    }
                }
            });
            for outcome in futures::future::join_all(calls).await {
                match outcome {
                    None => cancelled += 1,
                    Some(Ok(_)) => done += 1,
                    Some(Err(BankError::Busy(_))) => busy += 1,
                    Some(Err(e)) => panic!("unexpected error: {e}"),
                }
            }
        }
        settle(&passwords, places).await;
        assert!(done > 0 && cancelled > 0, "done {done}, cancelled {cancelled}");
        // At least the 6 past the 10 places in each wave (more when a
        // cancelled hash of the previous wave still holds its place).
        assert!(busy >= 4 * 6, "busy {busy}");
        let most = passwords.probe.most_running.load(SeqCst);
        assert!((1..=2).contains(&most), "{most} hashes ran at once with 2 permits");
        assert!(passwords.probe.most_kept.load(SeqCst) <= 2);
        assert!(lock(&passwords.memories).len() <= 2);
        assert_eq!(passwords.permits.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_cancelled_hash_keeps_its_permit_until_it_finishes() {
        let passwords = Passwords::new(1);
        let call = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.hash("correct horse battery".into()).await }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while passwords.probe.running.load(SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the hash never started");
            tokio::task::yield_now().await;
        }
        // The request is cancelled mid-hash: its future is dropped.
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
        // The permit comes back only once the hash is done (read in this
        // order: the hash stops running before its permit is released).
        let free = passwords.permits.available_permits();
        let running = passwords.probe.running.load(SeqCst);
        assert!(free == 0 || running == 0, "permit released while the hash runs");
        settle(&passwords, 1 + WAITERS_PER_PERMIT).await;
        assert_eq!(passwords.permits.available_permits(), 1);
        // Its working memory was given back, not lost with the caller.
        assert_eq!(lock(&passwords.memories).len(), 1);
        assert_eq!(passwords.probe.most_running.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_at_once() {
        let passwords = Passwords::new(1);
        let places = 1 + WAITERS_PER_PERMIT;
        // No hash can start while the test holds the one permit.
        let hold = passwords.permits.clone().acquire_owned().await.unwrap();
        let waiting: Vec<_> = (0..places)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.verify("whatever it is".into(), None).await })
            })
            .collect();
        while passwords.places.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // Full: refused on the first poll, without waiting.
        assert!(matches!(
            passwords.verify("whatever it is".into(), None).now_or_never(),
            Some(Err(BankError::Busy(_)))
        ));
        assert!(matches!(
            passwords.hash("whatever it is".into()).now_or_never(),
            Some(Err(BankError::Busy(_)))
        ));
        // A waiter that gives up frees its place for the next caller.
        waiting[0].abort();
        while passwords.places.available_permits() == 0 {
            tokio::task::yield_now().await;
        }
        let next = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.verify("whatever it is".into(), None).await }
        });
        drop(hold);
        for call in waiting.into_iter().skip(1).chain([next]) {
            assert!(!call.await.unwrap().unwrap(), "no stored hash never matches");
        }
        settle(&passwords, places).await;
        assert_eq!(passwords.probe.most_running.load(SeqCst), 1);
        assert_eq!(lock(&passwords.memories).len(), 1);
    }
}
