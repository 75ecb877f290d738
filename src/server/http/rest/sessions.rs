//! `/user/signout`, `/user/signout-all`, `/user/sessions`: the sessions a
//! user can see and end.

use super::error::{ApiError, Refusals};
use super::rfc3339;
use crate::server::auth::extract::AuthUser;
use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use mongodb::bson::oid::ObjectId;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user/signout", post(sign_out))
        .route("/user/signout-all", post(sign_out_everywhere))
        .route("/user/sessions", get(list))
        .route("/user/sessions/{id}", delete(end))
}

/// Ends the session this request was made in: its token is dead.
async fn sign_out(State(state): State<AppState>, me: AuthUser) -> Result<Json<Value>, ApiError> {
    state
        .sessions
        .end(me.user, me.session)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({ "message": "Signed out" })))
}

/// Ends every session of the user, this one included.
async fn sign_out_everywhere(State(state): State<AppState>, me: AuthUser) -> Result<Json<Value>, ApiError> {
    state
        .sessions
        .end_all(me.user, None)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({ "message": "Signed out everywhere" })))
}

async fn list(State(state): State<AppState>, me: AuthUser) -> Result<Json<Value>, ApiError> {
    let sessions = state
        .sessions
        .list(me.user, me.session)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    let sessions: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "createdAt": rfc3339(s.created_at),
                "lastSeenAt": rfc3339(s.last_seen_at),
                "userAgent": s.user_agent,
                "current": s.current,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// Ends one of the user's own sessions; anyone else's is "No such session".
async fn end(State(state): State<AppState>, me: AuthUser, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let no_such = || ApiError::new(StatusCode::NOT_FOUND, "No such session");
    let sid = ObjectId::parse_str(&id).map_err(|_| no_such())?;
    let ended = state
        .sessions
        .end(me.user, sid)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    if !ended {
        return Err(no_such());
    }
    Ok(Json(json!({ "message": "Signed out" })))
}
