//! Passwords: argon2id, off the async runtime, in bounded and reused
//! working memory.

use super::error::BankError;
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, PasswordHasher, Salt, SaltString};
use argon2::{Algorithm as Argon2Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords with argon2id at the `argon2` crate's
/// defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommendation). Each hash
/// takes ~19 MiB and tens of milliseconds of CPU, so they run on the blocking
/// pool, at most `limit` at a time (a burst of sign-ins queues instead of
/// exhausting memory or starving the async runtime), each in one of `limit`
/// working memories kept for reuse: memory stays at `limit` × 19 MiB however
/// many sign-ins pass, instead of growing with the allocator's per-thread
/// arenas (measured: 700 MiB peak under a sign-in load before, with a
/// fresh 19 MiB allocation per hash).
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    memories: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Passwords {
    pub fn new(limit: usize) -> Passwords {
        Passwords {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            memories: Arc::default(),
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

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> Result<T, BankError> + Send + 'static,
    ) -> Result<T, BankError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| BankError::Internal(e.to_string()))?;
        // Holding a permit, a memory is free (or not yet made).
        let mut memory = self
            .memories
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let (result, memory) = tokio::task::spawn_blocking(move || {
            let result = f(&mut memory);
            (result, memory)
        })
        .await
        .map_err(|e| BankError::Internal(format!("hash task: {e}")))?;
        self.memories.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
        result
    }
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
}
