//! The JSON API under `/api/v1`, compatible with the original Express
//! backend: the same paths, bodies, messages and status codes
//! (`docs/API.md`). Thin: parse strictly, call `Bank`, map the outcome once
//! (`error.rs`). One file per resource.

mod accounts;
pub mod error;
pub mod extract;
mod sessions;
mod users;

use super::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(sessions::router())
        .merge(accounts::router())
}

/// A time (milliseconds since the epoch) as the API writes times:
/// RFC 3339 in UTC, to the millisecond.
fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
