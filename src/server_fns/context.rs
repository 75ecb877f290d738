//! What a server function reads from the request it answers and sets on
//! its answer: the app state, the signed-in user, signing in (a new
//! session and its cookie), the throttles, and where this site is reached.
//! Server only.

use super::errors::too_many;
use crate::error::AppError;
use crate::server::auth::extract::{clear_session_cookie, session_cookie, AuthUser, ClientAddress, NotSignedIn};
use crate::server::auth::sessions::Device;
use crate::server::auth::sign_in::{self, SignInRefused};
use crate::server::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header::SET_COOKIE, HeaderValue};
use leptos::prelude::*;
use mongodb::bson::oid::ObjectId;

/// The app state (given to every server function by the router).
pub fn state() -> AppState {
    expect_context::<AppState>()
}

/// The signed-in user and their session: the same extractor as the REST
/// routes'.
pub async fn current_user() -> Result<AuthUser, AppError> {
    let mut parts = use_context::<Parts>().ok_or(AppError::Unauthorized)?;
    AuthUser::from_request_parts(&mut parts, &state())
        .await
        .map_err(|e| match e {
            NotSignedIn::SignedOut => AppError::Unauthorized,
            NotSignedIn::Unavailable => AppError::Unavailable,
        })
}

/// Signs the browser in as `user`: a new session on this device.
pub async fn start_session(user: ObjectId) -> Result<(), AppError> {
    let state = state();
    let device: Device = leptos_axum::extract_with_state(&state).await.unwrap_or_default();
    let token = sign_in::open(&state, user, &device).await?;
    set_cookie(&session_cookie(&token, state.sessions.lifetime(), state.cookie_secure));
    Ok(())
}

/// Counts a sign-up attempt against the limits of this client's network.
pub async fn throttle_sign_up() -> Result<(), AppError> {
    let state = state();
    let ClientAddress(address) = leptos_axum::extract_with_state(&state)
        .await
        .unwrap_or(ClientAddress(None));
    state.throttle.attempt(address).map_err(too_many)
}

/// Signs the browser in with a password: throttled, checked, a new session.
pub async fn sign_in(username: &str, password: &str) -> Result<(), AppError> {
    let state = state();
    let ClientAddress(address) = leptos_axum::extract_with_state(&state)
        .await
        .unwrap_or(ClientAddress(None));
    let device: Device = leptos_axum::extract_with_state(&state).await.unwrap_or_default();
    let signed = sign_in::sign_in(&state, username, password, address, &device)
        .await
        .map_err(|refused| match refused {
            SignInRefused::TooMany(wait) => too_many(wait),
            SignInRefused::Bank(e) => AppError::from(e),
        })?;
    set_cookie(&session_cookie(
        &signed.token,
        state.sessions.lifetime(),
        state.cookie_secure,
    ));
    // This browser is let in later while the username is under attack.
    set_cookie(&signed.device_cookie);
    Ok(())
}

/// Where this site is reached, for links people share (the pay link):
/// `PUBLIC_URL` when set, else the scheme and host this request came to.
pub fn public_origin() -> String {
    let state = state();
    if let Some(url) = &state.public_url {
        return url.clone();
    }
    let host = use_context::<axum::http::request::Parts>()
        .and_then(|p| p.headers.get(axum::http::header::HOST).cloned())
        .and_then(|h| h.to_str().ok().map(str::to_owned))
        .unwrap_or_else(|| state.leptos_options.site_addr.to_string());
    let scheme = if state.cookie_secure { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// Counts a password change by `user` against its limit.
pub fn throttle_password_change(user: ObjectId) -> Result<(), AppError> {
    state().throttle.password_change(user).map_err(too_many)
}

/// Forgets the session cookie in the browser.
pub fn clear_cookie() {
    set_cookie(&clear_session_cookie(state().cookie_secure));
}

fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(value),
    ) {
        response.append_header(SET_COOKIE, value);
    }
}
