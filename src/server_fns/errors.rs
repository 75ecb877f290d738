//! The server functions' one mapping of failures to what the UI is told:
//! a service failure to an [`AppError`], an `AppError` to the status it is
//! answered with (and back, for answers a layer made), and the router's
//! layer that makes every failure of a server function decode as one.
//! Server only.

use crate::error::AppError;
use crate::server::bank::error::{BankError, Kind};
use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::*;

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
                    crate::limits::MAX_PENDING
                ),
            ),
            (Kind::Unavailable, _) => AppError::Unavailable,
            (Kind::Invalid | Kind::Internal, _) => AppError::Internal,
        }
    }
}

/// "Too many attempts", with the `Retry-After` the wait gives.
pub(super) fn too_many(wait: std::time::Duration) -> AppError {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        let secs = crate::server::auth::throttle::retry_after_secs(wait);
        response.insert_header(header::RETRY_AFTER, secs.into());
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
    if let (Err(e), Some(response), false) = (&result, use_context::<leptos_axum::ResponseOptions>(), is_form_post()) {
        if let Ok(status) = StatusCode::from_u16(e.status()) {
            response.set_status(status);
        }
    }
    result
}

/// Whether this call is a plain form post (a browser without JavaScript,
/// or before the WASM loaded): it asks for a page back, not data. The same
/// test as `leptos_axum::redirect`'s, which answers such a post with a 302.
pub fn is_form_post() -> bool {
    use_context::<Parts>().is_some_and(|p| {
        p.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}

/// Where the server functions live (the REST API is under `/api/v1`).
const SERVER_FN_PREFIX: &str = "/api/";

/// A server function's failure must reach the browser as an `AppError`, or
/// the client cannot decode it and shows a wrong message. Most are: the
/// function's own errors (`respond` also sets their status).
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

impl AppError {
    /// The HTTP status a server function answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } | AppError::InsufficientBalance | AppError::InvalidAccount => 400,
            AppError::BadCredentials | AppError::Unauthorized => 401,
            AppError::EmailTaken => 409,
            AppError::RateLimited => 429,
            AppError::Unavailable => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }

    /// What to tell the user about an answer that a layer in front of the
    /// server functions made (body too large, request refused, time limit).
    pub fn for_status(status: u16) -> AppError {
        match status {
            401 => AppError::Unauthorized,
            413 => AppError::Invalid {
                field: None,
                message: "That is more than Paisa accepts in one request".into(),
            },
            429 => AppError::RateLimited,
            503 | 504 => AppError::Unavailable,
            400..=499 => AppError::Invalid {
                field: None,
                message: "This request was refused; reload the page and try again".into(),
            },
            _ => AppError::Internal,
        }
    }
}
