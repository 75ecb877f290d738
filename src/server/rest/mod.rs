//! The JSON API under `/api/v1`, compatible with the original Express
//! backend: the same paths, bodies, messages and status codes
//! (`docs/API.md`). Thin: parse strictly, call `Bank`, map the outcome once
//! (`error.rs`). One file per resource.

mod accounts;
pub mod error;
pub mod extract;
mod users;

use super::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().merge(users::router()).merge(accounts::router())
}
