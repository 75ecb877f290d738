//! The server side of the server functions: the session, the answer's
//! status and cookies, and the one mapping of service failures to what the
//! UI is told.

use crate::error::AppError;
use crate::server::auth::extract::{clear_session_cookie, session_cookie, AuthUser, ClientAddress, NotSignedIn};
use crate::server::auth::sessions::Device;
use crate::server::auth::sign_in::{self, SignInRefused};
use crate::server::bank::error::{BankError, Kind};
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, header::SET_COOKIE, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::*;
use mongodb::bson::oid::ObjectId;

/// The one mapping of a service failure to what the UI is told.
impl From<BankError> for AppError {
    fn from(e: BankError) -> AppError {
        match (e.report(), e) {
            (_, BankError::Invalid { field, message }) => AppError::invalid(field, message),
            (_, BankError::Amount(m)) => AppError::invalid("amount", m.to_string()),
            (Kind::EmailTaken, _) => AppError::EmailTaken,
            (Kind::BadCredentials, _) => AppError::BadCredentials,
            (Kind::InsufficientBalance, _) => AppError::InsufficientBalance,
            (Kind::InvalidAccount, _) => AppError::InvalidAccount,
            (Kind::RecipientLimit, _) => AppError::invalid(
                "amount",
                "The recipient cannot receive that much: their balance is at the limit",
            ),
            (Kind::IdempotencyMismatch, _) => AppError::Invalid {
                field: None,
                message: "This payment was already submitted with different details".into(),
            },
            (Kind::Unauthorized, _) => AppError::Unauthorized,
            (Kind::NoSuchRequest, _) => AppError::invalid("request", "No such request"),
            (Kind::NotPending, _) => AppError::invalid("request", "This request is no longer pending"),
            (Kind::PendingLimit, _) => AppError::invalid(
                "request",
                format!(
                    "You have {} requests waiting: cancel one first",
                    crate::server::bank::MAX_PENDING
                ),
            ),
            (Kind::Unavailable, _) => AppError::Unavailable,
            (Kind::Invalid | Kind::Internal, _) => AppError::Internal,
        }
    }
}

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

/// "Too many attempts", with the `Retry-After` the wait gives.
fn too_many(wait: std::time::Duration) -> AppError {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        let secs = crate::server::auth::throttle::retry_after_secs(wait);
        response.insert_header(axum::http::header::RETRY_AFTER, secs.into());
    }
    AppError::RateLimited
}

/// Runs a server function's body; an error also sets the response's
/// status (4xx for the user's mistakes, 5xx for ours), instead of the
/// blanket 500 server functions otherwise answer with.
pub async fn respond<T>(body: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let result = body.await;
    // A plain form post (no JavaScript) is answered with a redirect back
    // to the form, carrying the error; its status must stay a redirect.
    let form_post = use_context::<axum::http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    });
    if let (Err(e), Some(response), false) = (&result, use_context::<leptos_axum::ResponseOptions>(), form_post) {
        if let Ok(status) = axum::http::StatusCode::from_u16(e.status()) {
            response.set_status(status);
        }
    }
    result
}

/// Where the server functions live (the REST API is under `/api/v1`).
const SERVER_FN_PREFIX: &str = "/api/";

/// A server function's failure must reach the browser as an `AppError`, or
/// the client cannot decode it and shows a wrong message. Most are: the
/// function's own errors (`server_fns::respond` also sets their status).
/// This fixes the rest: arguments the server_fn crate could not decode
/// (its blanket 500 gets the status of the error it carries) and answers
/// made by a layer before or instead of the function (413, cross-site 403,
/// the time limit's 503, a generic 500): their bodies are replaced by the
/// `AppError` of their status. (A layer of the router.)
pub async fn error_bodies(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !path.starts_with(SERVER_FN_PREFIX) || path.starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let error = match serde_json::from_slice::<AppError>(&bytes) {
        Ok(error) => {
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                parts.status = StatusCode::from_u16(error.status()).unwrap_or(status);
            }
            error
        }
        Err(_) => AppError::for_status(status.as_u16()),
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&error).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
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
