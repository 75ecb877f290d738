//! Signing in with a password and opening a session: the throttle first
//! (only failures count against a username), then the password check, then
//! a session on the device; the answer is the session's token.

use super::extract::device_cookie;
use super::sessions::Device;
use super::AuthContext;
use crate::server::bank::error::BankError;
use crate::server::bank::Verified;
use mongodb::bson::oid::ObjectId;
use std::net::IpAddr;
use std::time::Duration;

/// Longest username looked at: an email is at most 254 bytes. Longer ones
/// are refused before any throttling or hashing.
pub const MAX_USERNAME_BYTES: usize = 254;

/// Why a sign-in gave no session.
#[derive(Debug)]
pub enum SignInRefused {
    /// Too many failures (or attempts) from here: come back after this.
    TooMany(Duration),
    Bank(BankError),
}

/// A sign-in's answer: the session's token, and the device cookie
/// (`Set-Cookie` value) that lets this browser in during an attack on the
/// username later.
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub device_cookie: String,
}

/// Signs in with a password: the throttle (a browser that signed in to the
/// username before is exempt from its rate), the password check, then a
/// new session on `device`.
pub async fn sign_in(
    state: &impl AuthContext,
    username: &str,
    password: &str,
    address: Option<IpAddr>,
    device: &Device,
) -> Result<SignedIn, SignInRefused> {
    if username.len() > MAX_USERNAME_BYTES {
        return Err(SignInRefused::Bank(BankError::BadCredentials));
    }
    state.throttle().attempt(address).map_err(SignInRefused::TooMany)?;
    let known = device
        .known
        .as_deref()
        .is_some_and(|t| state.tokens().is_device_of(t, username));
    state
        .throttle()
        .before_sign_in(username, address, known)
        .map_err(SignInRefused::TooMany)?;
    match state.bank().verify_credentials(username, password).await {
        Ok(verified) => {
            state.throttle().succeeded(username, address);
            let token = open_verified(state, &verified, device)
                .await
                .map_err(SignInRefused::Bank)?;
            let device = state.tokens().issue_device(username).map_err(SignInRefused::Bank)?;
            Ok(SignedIn {
                token,
                device_cookie: device_cookie(&device, state.cookie_secure()),
            })
        }
        Err(BankError::BadCredentials) => {
            state.throttle().failed(username, address);
            Err(SignInRefused::Bank(BankError::BadCredentials))
        }
        Err(e) => Err(SignInRefused::Bank(e)),
    }
}

/// Opens a session on `device` for the user whose password was `verified`;
/// returns its token. A password change since the check (which ended the
/// user's sessions, perhaps before this one was stored) refuses it.
pub async fn open_verified(
    state: &impl AuthContext,
    verified: &Verified,
    device: &Device,
) -> Result<String, BankError> {
    let session = state.sessions().open(verified.user, device).await?;
    if !state.bank().still_verified(verified).await? {
        state.sessions().end(verified.user, session).await?;
        return Err(BankError::BadCredentials);
    }
    state.tokens().issue(verified.user, session)
}

/// Opens a session for `user` on `device`; returns its token.
pub async fn open(state: &impl AuthContext, user: ObjectId, device: &Device) -> Result<String, BankError> {
    let session = state.sessions().open(user, device).await?;
    state.tokens().issue(user, session)
}
