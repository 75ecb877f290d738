//! Session tokens: HS256 JWTs naming a user and their server-side session
//! (`sid`), with a required expiry. A valid signature is not enough: the
//! session must also be live (`session_store.rs`).

use crate::server::bank::error::BankError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// The session (required: a token without one names no session).
    sid: String,
    iat: u64,
    exp: u64,
}

/// Who a token speaks for: a user, in one of their sessions.
/// A device's claim to have signed in to a username before: never a
/// session (no `sid`), and a session token is never one (no `dev`).
#[derive(Debug, Serialize, Deserialize)]
struct DeviceClaims {
    sub: String,
    dev: bool,
    exp: u64,
}

/// How long a device is remembered after it signed in.
pub const DEVICE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub user: ObjectId,
    pub session: ObjectId,
}

/// Issues and checks session tokens: HS256 only, `exp` required.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// Secrets shorter than this are refused: HS256 is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 32;

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Tokens, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        Ok(Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// Uses `configured` if given; otherwise the secret kept in
    /// `data_dir/jwt-secret`, generating it on first use (development only:
    /// production sets JWT_SECRET so every instance shares it).
    pub fn from_config(configured: Option<&str>, data_dir: &Path, ttl: Duration) -> Result<Tokens, String> {
        if let Some(secret) = configured {
            return Tokens::new(secret.as_bytes(), ttl);
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
        Tokens::new(secret.as_bytes(), ttl)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user: ObjectId, session: ObjectId) -> Result<String, BankError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            sub: user.to_hex(),
            sid: session.to_hex(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| BankError::Internal(format!("jwt encode: {e}")))
    }

    /// Who a token speaks for, if it is ours, unaltered and unexpired (the
    /// session itself is checked by the caller).
    pub fn verify(&self, token: &str) -> Result<Claimed, BankError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| BankError::Unauthorized)?;
        let id = |hex: &str| ObjectId::parse_str(hex).map_err(|_| BankError::Unauthorized);
        Ok(Claimed {
            user: id(&data.claims.sub)?,
            session: id(&data.claims.sid)?,
        })
    }
}

impl Tokens {
    /// A device token for `username` (trimmed, lower-cased): this browser
    /// signed in to it.
    pub fn issue_device(&self, username: &str) -> Result<String, BankError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = DeviceClaims {
            sub: username.trim().to_lowercase(),
            dev: true,
            exp: now + DEVICE_TTL.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| BankError::Internal(format!("jwt encode: {e}")))
    }

    /// Whether `token` is this server's device token for `username`.
    pub fn is_device_of(&self, token: &str, username: &str) -> bool {
        jsonwebtoken::decode::<DeviceClaims>(token, &self.decoding, &self.validation)
            .is_ok_and(|d| d.claims.dev && d.claims.sub == username.trim().to_lowercase())
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn tokens() -> Tokens {
        Tokens::new(SECRET, Duration::from_secs(3600)).unwrap()
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn round_trips_a_user() {
        let s = tokens();
        let (user, session) = (ObjectId::new(), ObjectId::new());
        assert_eq!(
            s.verify(&s.issue(user, session).unwrap()).unwrap(),
            Claimed { user, session }
        );
    }

    #[test]
    fn refuses_short_secrets() {
        assert!(Tokens::new(b"too short", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn rejects_forged_expired_and_foreign_tokens() {
        let s = tokens();
        let id = ObjectId::new().to_hex();
        let sid = ObjectId::new().to_hex();
        let claims = |exp| Claims {
            sub: id.clone(),
            sid: sid.clone(),
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
            b64(&format!(
                r#"{{"sub":"{id}","sid":"{sid}","iat":{},"exp":{}}}"#,
                now(),
                now() + 60
            ))
        );
        assert!(s.verify(&none).is_err());
    }

    #[test]
    fn rejects_tampered_and_incomplete_tokens() {
        let s = tokens();
        let id = ObjectId::new().to_hex();
        let sid = ObjectId::new().to_hex();
        let b64 = |v: &str| base64_url_encode(v.as_bytes());
        // Tampered payload, original signature.
        let good = s.issue(ObjectId::new(), ObjectId::new()).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let other = b64(&format!(
            r#"{{"sub":"{id}","sid":"{sid}","iat":{},"exp":{}}}"#,
            now(),
            now() + 60
        ));
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
        // A first-release token: no session named.
        #[derive(Serialize)]
        struct NoSession {
            sub: String,
            iat: u64,
            exp: u64,
        }
        let old = NoSession {
            sub: id.clone(),
            iat: now(),
            exp: now() + 60,
        };
        let no_sid = encode(&Header::default(), &old, &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(s.verify(&no_sid).is_err());
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
}
