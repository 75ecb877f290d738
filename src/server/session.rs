//! Who is calling: the one place that reads a session from a request. The
//! token comes from `Authorization: Bearer …` or the session cookie; the
//! [`AuthUser`] extractor checks it for the REST routes, the server functions
//! (`leptos_axum::extract_with_state`) and the page guard alike. Also the
//! client's address, which the sign-in and sign-up throttle is keyed on.

use super::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mongodb::bson::oid::ObjectId;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "paisa_session";

/// The signed-in user.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser(pub ObjectId);

/// No valid session: missing, malformed, forged, expired or of the wrong
/// algorithm, told apart from nothing. The API answers 403 `{}` (its
/// contract); server functions and pages map it to their own answers.
#[derive(Debug)]
pub struct SignedOut;

impl IntoResponse for SignedOut {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({}))).into_response()
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = SignedOut;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AuthUser, SignedOut> {
        let token = token_from_headers(&parts.headers).ok_or(SignedOut)?;
        state.tokens.verify(token).map(AuthUser).map_err(|_| SignedOut)
    }
}

/// The session token of a request: a `Bearer` token, else the session
/// cookie (also when an `Authorization` header of another scheme is sent).
pub fn token_from_headers(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    bearer.or_else(|| {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value)
    })
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

/// The client's address, for throttling: the peer, or with
/// `TRUST_FORWARDED_FOR` the address our own proxy appended last.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ClientAddress, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ClientAddress(client_address(
            state.trust_forwarded_for,
            &parts.headers,
            peer,
        )))
    }
}

fn client_address(trust_forwarded_for: bool, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if trust_forwarded_for {
        if let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    peer.map(|p| p.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=b; paisa_session=tok123; c=d".parse().unwrap());
        assert_eq!(token_from_headers(&h), Some("tok123"));
        // Another scheme is not ours: the cookie still counts.
        h.insert("authorization", "Basic YTpi".parse().unwrap());
        assert_eq!(token_from_headers(&h), Some("tok123"));
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(token_from_headers(&h), Some("abc"));
        let mut none = HeaderMap::new();
        none.insert("authorization", "Basic YTpi".parse().unwrap());
        assert_eq!(token_from_headers(&none), None);
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client_address(false, &h, Some(peer)), Some(peer.ip()));
        assert_eq!(client_address(true, &h, Some(peer)), "198.51.100.7".parse().ok());
        assert_eq!(client_address(true, &HeaderMap::new(), Some(peer)), Some(peer.ip()));
    }
}
