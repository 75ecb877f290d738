//! Who is calling: the one place that reads a session from a request. The
//! token comes from `Authorization: Bearer …` or the session cookie; the
//! [`AuthUser`] extractor checks its signature and that the session it
//! names is live, for the REST routes, the server functions and the page
//! guard alike. Also the client's address, which the sign-in and sign-up
//! throttle is keyed on, and the device a new session is opened on. They
//! read the app's state through [`AuthContext`], so auth sits below it.

use super::sessions::Device;
use super::AuthContext;
use crate::server::bank::error::BankError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE, USER_AGENT};
use axum::http::{request::Parts, HeaderMap};
use mongodb::bson::oid::ObjectId;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The session cookie's name over plain HTTP (development).
pub const SESSION_COOKIE: &str = "paisa_session";
/// Its name over HTTPS (`COOKIE_SECURE`): browsers take a `__Host-` cookie
/// only from a secure page of this very host, so neither a plain-HTTP page
/// nor a sibling subdomain can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-paisa_session";

/// The session cookie's name for this deployment.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The signed-in user, in one of their sessions.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub user: ObjectId,
    pub session: ObjectId,
}

/// Why a request is not signed in.
#[derive(Debug, PartialEq, Eq)]
pub enum NotSignedIn {
    /// No valid session: missing, malformed, forged, expired, of the wrong
    /// algorithm, or ended, told apart from nothing. The API answers 403
    /// `{}` (its contract).
    SignedOut,
    /// The session could not be checked: the database is unreachable (503).
    Unavailable,
}

impl<S: AuthContext> FromRequestParts<S> for AuthUser {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AuthUser, NotSignedIn> {
        let token =
            token_from_headers(&parts.headers, cookie_name(state.cookie_secure())).ok_or(NotSignedIn::SignedOut)?;
        let claimed = state.tokens().verify(token).map_err(|_| NotSignedIn::SignedOut)?;
        match state.sessions().check(claimed.session, claimed.user).await {
            Ok(()) => Ok(AuthUser {
                user: claimed.user,
                session: claimed.session,
            }),
            Err(e) if e.is_unavailable() => Err(NotSignedIn::Unavailable),
            Err(BankError::Unauthorized) => Err(NotSignedIn::SignedOut),
            Err(e) => {
                tracing::error!(error = %e, "session check failed");
                Err(NotSignedIn::Unavailable)
            }
        }
    }
}

impl<S: AuthContext> FromRequestParts<S> for Device {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Device, Self::Rejection> {
        let ClientAddress(address) = ClientAddress::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let known = token_from_cookie(&parts.headers, device_cookie_name(state.cookie_secure())).map(str::to_owned);
        Ok(Device {
            user_agent,
            address,
            known,
        })
    }
}

/// The session token of a request: a `Bearer` token, else the session
/// cookie `cookie` (also when an `Authorization` header of another scheme is
/// sent).
pub fn token_from_headers<'h>(headers: &'h HeaderMap, cookie: &str) -> Option<&'h str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    bearer.or_else(|| token_from_cookie(headers, cookie))
}

/// The value of the cookie `cookie`.
fn token_from_cookie<'h>(headers: &'h HeaderMap, cookie: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
        .map(|(_, value)| value)
}

/// The device cookie's name: like the session cookie's, `__Host-` over HTTPS.
pub fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-paisa_device"
    } else {
        "paisa_device"
    }
}

/// The `Set-Cookie` value that remembers this browser signed in to a
/// username (OWASP's device cookie): HttpOnly, for a year. From such a
/// browser, the owner signs in even while their username is under attack.
pub fn device_cookie(token: &str, secure: bool) -> String {
    let name = device_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        super::tokens::DEVICE_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that stores a session token in the browser:
/// HttpOnly (no script can read it), SameSite=Lax (no cross-site POSTs),
/// and over HTTPS `Secure` under its `__Host-` name.
pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// The `Set-Cookie` value that signs the browser out.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", Duration::ZERO, secure)
}

/// The client's address, for throttling: the peer, or with
/// `TRUST_FORWARDED_FOR` the address our own proxy appended last.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: AuthContext> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ClientAddress, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ClientAddress(client_address(
            state.trust_forwarded_for(),
            &parts.headers,
            peer,
        )))
    }
}

fn client_address(trust_forwarded_for: bool, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if !trust_forwarded_for && headers.contains_key("x-forwarded-for") {
        warn_forwarded_once();
    }
    if trust_forwarded_for {
        // Our proxy appends the address it saw: the last entry of the last
        // header line. Anything before it the client may have written.
        if let Some(ip) = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    peer.map(|p| p.ip())
}

/// Requests name a client in `X-Forwarded-For` while it is not trusted:
/// behind a proxy, every client then shares the proxy's address (its
/// sign-in budget, its connections). Said once per process.
fn warn_forwarded_once() {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "requests arrive with X-Forwarded-For but TRUST_FORWARDED_FOR is off: behind a proxy, set it, or every client shares the proxy's address"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=b; paisa_session=tok123; c=d".parse().unwrap());
        assert_eq!(token_from_headers(&h, SESSION_COOKIE), Some("tok123"));
        // Over HTTPS only the __Host- cookie counts.
        assert_eq!(token_from_headers(&h, SECURE_SESSION_COOKIE), None);
        // Another scheme is not ours: the cookie still counts.
        h.insert("authorization", "Basic YTpi".parse().unwrap());
        assert_eq!(token_from_headers(&h, SESSION_COOKIE), Some("tok123"));
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(token_from_headers(&h, SESSION_COOKIE), Some("abc"));
        let mut none = HeaderMap::new();
        none.insert("authorization", "Basic YTpi".parse().unwrap());
        assert_eq!(token_from_headers(&none, SESSION_COOKIE), None);
    }

    #[test]
    fn the_cookie_is_host_bound_and_secure_over_https() {
        let plain = session_cookie("t", Duration::from_secs(60), false);
        assert!(plain.starts_with("paisa_session=t; Path=/; HttpOnly; SameSite=Lax") && !plain.contains("Secure"));
        let secure = session_cookie("t", Duration::from_secs(60), true);
        assert!(secure.starts_with("__Host-paisa_session=t; Path=/;") && secure.ends_with("; Secure"));
        assert!(!secure.contains("Domain"));
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client_address(false, &h, Some(peer)), Some(peer.ip()));
        assert_eq!(client_address(true, &h, Some(peer)), "198.51.100.7".parse().ok());
        // A second header line (the proxy's, after the client's own).
        h.append("x-forwarded-for", "192.0.2.44".parse().unwrap());
        assert_eq!(client_address(true, &h, Some(peer)), "192.0.2.44".parse().ok());
        assert_eq!(client_address(true, &HeaderMap::new(), Some(peer)), Some(peer.ip()));
    }
}
