//! The API's one error: a status and a JSON body. Failures are answered the
//! same way on every route (403 `{}`, 503, a generic 500); refusals (bad
//! input, business outcomes) the way each route's contract says.

use crate::money::MoneyError;
use crate::server::auth::extract::NotSignedIn;
use crate::server::auth::throttle::retry_after_secs;
use crate::server::bank::error::{BankError, Kind};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An API answer other than success.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

/// How a route answers refusals.
#[derive(Clone, Copy, Debug)]
pub enum Refusals {
    /// One status and message for every refusal: the original API's user
    /// routes (411) and the queries (400).
    All(StatusCode, &'static str),
    /// Each refusal by its own message: the account routes.
    Named,
}

impl Refusals {
    /// The answer to a body or query that could not be read.
    pub fn bad_input(self) -> ApiError {
        match self {
            Refusals::All(status, message) => ApiError::new(status, message),
            Refusals::Named => ApiError::new(StatusCode::BAD_REQUEST, "Invalid request"),
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: &str) -> ApiError {
        ApiError {
            status,
            body: json!({ "message": message }),
            retry_after: None,
        }
    }

    /// Missing, malformed, forged or expired credentials: 403 `{}`.
    pub fn forbidden() -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({}),
            retry_after: None,
        }
    }

    /// The database is unreachable or too slow: try again shortly.
    pub fn unavailable() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({ "message": "Service unavailable, try again" }),
            retry_after: Some(1),
        }
    }

    pub fn too_many(wait: std::time::Duration) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({ "message": "Too many attempts, try again later" }),
            retry_after: Some(retry_after_secs(wait)),
        }
    }

    /// No live stream: the user has too many open (429), or this instance
    /// does (503, try again: another instance may have room).
    pub fn live_refused(why: crate::server::live::Refused) -> ApiError {
        use crate::server::live::{Refused, PER_NETWORK, PER_USER};
        let (status, message, retry_after) = match why {
            Refused::TooManyForUser => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many live connections for this account (at most {PER_USER}): close a tab or device"),
                10,
            ),
            Refused::TooManyForNetwork => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many live connections from this network (at most {PER_NETWORK}), try again later"),
                10,
            ),
            Refused::Full => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many live connections on this server, try again shortly".to_owned(),
                5,
            ),
            Refused::Closing => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is restarting, try again shortly".to_owned(),
                1,
            ),
        };
        ApiError {
            status,
            body: json!({ "message": message }),
            retry_after: Some(retry_after),
        }
    }

    pub fn invalid_amount(why: MoneyError) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": "Invalid amount", "reason": why.to_string() }),
            retry_after: None,
        }
    }

    /// The one mapping of a service failure to an API answer.
    pub fn bank(e: BankError, refusals: Refusals) -> ApiError {
        match (e.report(), refusals) {
            (Kind::Unauthorized, _) => ApiError::forbidden(),
            (Kind::Unavailable, _) => ApiError::unavailable(),
            (Kind::Internal, _) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
            (_, Refusals::All(status, message)) => ApiError::new(status, message),
            (kind, Refusals::Named) => match e {
                BankError::Amount(why) => ApiError::invalid_amount(why),
                BankError::Invalid { message, .. } => ApiError::new(StatusCode::BAD_REQUEST, &message),
                _ => match kind {
                    Kind::InsufficientBalance => ApiError::new(StatusCode::BAD_REQUEST, "Insufficient balance"),
                    Kind::InvalidAccount => ApiError::new(StatusCode::BAD_REQUEST, "Invalid account"),
                    Kind::RecipientLimit => {
                        ApiError::new(StatusCode::BAD_REQUEST, "Recipient cannot receive this amount")
                    }
                    Kind::NoSuchRequest => ApiError::new(StatusCode::NOT_FOUND, "No such request"),
                    Kind::NotPending => ApiError::new(StatusCode::CONFLICT, "Request is no longer pending"),
                    Kind::PendingLimit => ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "Too many pending requests: at most 20 at once",
                    ),
                    Kind::IdempotencyMismatch => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Idempotency-Key was already used for a different transfer",
                    ),
                    _ => ApiError::new(StatusCode::BAD_REQUEST, "Invalid request"),
                },
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// The extractor's refusal, as every route answers it.
impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::SignedOut => ApiError::forbidden().into_response(),
            NotSignedIn::Unavailable => ApiError::unavailable().into_response(),
        }
    }
}
