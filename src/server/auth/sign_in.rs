//! Signing in with a password and opening a session: the throttle first
//! (only failures count against a username), then the password check, then
//! a session on the device; the answer is the session's token.

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

/// Signs in with a password: the throttle (only failures count against a
/// username), the password check, then a new session on `device`; returns
/// its token.
pub async fn sign_in(
    state: &impl AuthContext,
    username: &str,
    password: &str,
    address: Option<IpAddr>,
    device: &Device,
) -> Result<String, SignInRefused> {
    if username.len() > MAX_USERNAME_BYTES {
        return Err(SignInRefused::Bank(BankError::BadCredentials));
    }
    state.throttle().attempt(address).map_err(SignInRefused::TooMany)?;
    let delay = state
        .throttle()
        .before_sign_in(username, address)
        .map_err(SignInRefused::TooMany)?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match state.bank().verify_credentials(username, password).await {
        Ok(verified) => {
            state.throttle().succeeded(username, address);
            open_verified(state, &verified, device)
                .await
                .map_err(SignInRefused::Bank)
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
