//! Passwords: argon2id, off the async runtime, in bounded and reused
//! working memory, behind a bounded queue.

use crate::server::bank::error::BankError;
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
mod tests;
