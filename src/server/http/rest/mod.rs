//! The JSON API under `/api/v1`, compatible with the original Express
//! backend: the same paths, bodies, messages and status codes
//! (`docs/API.md`). Thin: parse strictly, call `Bank`, map the outcome once
//! (`error.rs`). One file per resource.

mod accounts;
pub mod error;
mod events;
pub mod extract;
mod requests;
mod sessions;
mod users;

use crate::model::HistoryEntry;
use crate::server::state::AppState;
use axum::Router;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(sessions::router())
        .merge(accounts::router())
        .merge(events::router())
        .merge(requests::router())
}

/// A journal entry as the API writes it: `/account/transactions` items and
/// live `transfer` events.
fn history_json(e: &HistoryEntry) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "direction": e.direction,
        "counterparty": e.counterparty,
        "amount": e.amount.to_rupees_f64(),
        "note": e.note,
        "createdAt": rfc3339(e.created_at),
    })
}

/// A time (milliseconds since the epoch) as the API writes times:
/// RFC 3339 in UTC, to the millisecond.
fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
