//! Passwords (argon2id) and sessions (HS256 JWT in an HttpOnly cookie or a
//! Bearer header).

use super::error::BankError;
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, PasswordHasher, Salt, SaltString};
use argon2::{Algorithm as Argon2Algorithm, Argon2, Block, Params, Version};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "paisa_session";

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

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
}

/// Issues and checks session tokens: HS256 only, `exp` required.
#[derive(Clone)]
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// Secrets shorter than this are refused: HS256 is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 32;

impl Sessions {
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Sessions, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        Ok(Sessions {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// Uses `configured` if given; otherwise the secret kept in
    /// `data_dir/jwt-secret`, generating it on first use (development only:
    /// production sets JWT_SECRET so every instance shares it).
    pub fn from_config(configured: Option<&str>, data_dir: &Path, ttl: Duration) -> Result<Sessions, String> {
        if let Some(secret) = configured {
            return Sessions::new(secret.as_bytes(), ttl);
        }
        let path = data_dir.join("jwt-secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().to_owned(),
            Err(_) => {
                use rand::RngCore;
                let mut bytes = [0u8; 48];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                std::fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
                write_private(&path, &secret).map_err(|e| format!("write {}: {e}", path.display()))?;
                secret
            }
        };
        tracing::warn!(path = %path.display(), "JWT_SECRET is not set: using a generated development secret");
        Sessions::new(secret.as_bytes(), ttl)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user: ObjectId) -> Result<String, BankError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            sub: user.to_hex(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| BankError::Internal(format!("jwt encode: {e}")))
    }

    /// The user a token speaks for, if it is ours, unaltered and unexpired.
    pub fn verify(&self, token: &str) -> Result<ObjectId, BankError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| BankError::Unauthorized)?;
        ObjectId::parse_str(&data.claims.sub).map_err(|_| BankError::Unauthorized)
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

/// The `Set-Cookie` value that stores a session token in the browser:
/// HttpOnly (no script can read it), SameSite=Lax (no cross-site POSTs).
pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// The `Set-Cookie` value that signs the browser out.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", Duration::ZERO, secure)
}

/// The session token of a request: a `Bearer` token, else the session cookie.
pub fn token_from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    use axum::http::header::{AUTHORIZATION, COOKIE};
    if let Some(value) = headers.get(AUTHORIZATION) {
        return value.to_str().ok()?.strip_prefix("Bearer ").map(str::trim);
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn sessions() -> Sessions {
        Sessions::new(SECRET, Duration::from_secs(3600)).unwrap()
    }

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

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn round_trips_a_user() {
        let s = sessions();
        let id = ObjectId::new();
        assert_eq!(s.verify(&s.issue(id).unwrap()).unwrap(), id);
    }

    #[test]
    fn refuses_short_secrets() {
        assert!(Sessions::new(b"too short", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn rejects_forged_expired_and_foreign_tokens() {
        let s = sessions();
        let id = ObjectId::new().to_hex();
        let claims = |exp| Claims {
            sub: id.clone(),
            iat: now(),
            exp,
        };
        // Signed with another secret.
        let forged = encode(
            &Header::default(),
            &claims(now() + 60),
            &EncodingKey::from_secret(b"another secret of enough length!!"),
        )
        .unwrap();
        assert!(s.verify(&forged).is_err());
        // Expired.
        let expired = encode(
            &Header::default(),
            &claims(now() - 5),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(s.verify(&expired).is_err());
        // Another HMAC algorithm with the right secret.
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims(now() + 60),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(s.verify(&hs512).is_err());
        // alg: none, unsigned.
        let b64 = |v: &str| base64_url_encode(v.as_bytes());
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(r#"{{"sub":"{id}","iat":{},"exp":{}}}"#, now(), now() + 60))
        );
        assert!(s.verify(&none).is_err());
        // Tampered payload, original signature.
        let good = s.issue(ObjectId::new()).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let other = b64(&format!(r#"{{"sub":"{id}","iat":{},"exp":{}}}"#, now(), now() + 60));
        parts[1] = &other;
        assert!(s.verify(&parts.join(".")).is_err());
        // No exp at all.
        #[derive(Serialize)]
        struct NoExp {
            sub: String,
        }
        let no_exp = encode(
            &Header::default(),
            &NoExp { sub: id.clone() },
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(s.verify(&no_exp).is_err());
        assert!(s.verify("").is_err());
        assert!(s.verify("not.a.jwt").is_err());
    }

    fn base64_url_encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn reads_bearer_or_cookie() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("cookie", "a=b; paisa_session=tok123; c=d".parse().unwrap());
        assert_eq!(token_from_headers(&h), Some("tok123"));
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(token_from_headers(&h), Some("abc"));
    }
}
