//! `/user`: sign-up, sign-in, profile changes, and finding people.

use super::error::{ApiError, Refusals};
use super::extract::{BadInput, StrictJson};
use crate::server::auth::extract::{AuthUser, ClientAddress};
use crate::server::auth::sessions::Device;
use crate::server::auth::sign_in::{self, SignInRefused};
use crate::server::bank::{ProfileUpdate, SignUp, SEARCH_LIMIT};
use crate::server::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user/signup", post(sign_up))
        .route("/user/signin", post(sign_in))
        .route("/user", put(update_user))
        .route("/user/bulk", get(bulk))
}

// The original API answers every refusal of a user route with one 411.
const SIGN_UP: Refusals = Refusals::All(StatusCode::LENGTH_REQUIRED, "Email already taken / Incorrect inputs");
const SIGN_IN: Refusals = Refusals::All(StatusCode::LENGTH_REQUIRED, "Error while logging in");
const UPDATE: Refusals = Refusals::All(StatusCode::LENGTH_REQUIRED, "Error while updating information");
const BULK: Refusals = Refusals::All(StatusCode::BAD_REQUEST, "Invalid filter");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpBody {
    username: String,
    first_name: String,
    last_name: String,
    password: String,
}

async fn sign_up(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    device: Device,
    body: Result<StrictJson<SignUpBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    state.throttle.attempt(address).map_err(ApiError::too_many)?;
    let StrictJson(body) = body.map_err(|_| SIGN_UP.bad_input())?;
    let input = SignUp {
        username: body.username,
        first_name: body.first_name,
        last_name: body.last_name,
        password: body.password,
    };
    let token = async { sign_in::open(&state, state.bank.sign_up(input).await?, &device).await }
        .await
        .map_err(|e| ApiError::bank(e, SIGN_UP))?;
    Ok(Json(json!({ "message": "User created successfully", "token": token })))
}

#[derive(Deserialize)]
struct SignInBody {
    username: String,
    password: String,
}

async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    device: Device,
    body: Result<StrictJson<SignInBody>, BadInput>,
) -> Result<axum::response::Response, ApiError> {
    let Ok(StrictJson(body)) = body else {
        // Still an attempt from this network.
        state.throttle.attempt(address).map_err(ApiError::too_many)?;
        return Err(SIGN_IN.bad_input());
    };
    let signed = sign_in::sign_in(&state, &body.username, &body.password, address, &device)
        .await
        .map_err(|refused| match refused {
            SignInRefused::TooMany(wait) => ApiError::too_many(wait),
            SignInRefused::Bank(e) => ApiError::bank(e, SIGN_IN),
        })?;
    let mut answer = axum::response::IntoResponse::into_response(Json(json!({ "token": signed.token })));
    if let Ok(cookie) = axum::http::HeaderValue::from_str(&signed.device_cookie) {
        answer.headers_mut().append(axum::http::header::SET_COOKIE, cookie);
    }
    Ok(answer)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    password: Option<String>,
    /// Required with `password`.
    current_password: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    AuthUser { user, session }: AuthUser,
    body: Result<StrictJson<UpdateBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let StrictJson(body) = body.map_err(|_| UPDATE.bad_input())?;
    let update = ProfileUpdate {
        first_name: body.first_name,
        last_name: body.last_name,
        password: body.password,
        current_password: body.current_password,
    };
    let new_password = update.password.is_some();
    if update.checks_password() {
        state.throttle.password_change(user).map_err(ApiError::too_many)?;
    }
    state
        .bank
        .update_profile(user, update)
        .await
        .map_err(|e| ApiError::bank(e, UPDATE))?;
    // A new password ends every other session; this one stays signed in.
    if new_password {
        state
            .sessions
            .end_all(user, Some(session))
            .await
            .map_err(|e| ApiError::bank(e, UPDATE))?;
    }
    Ok(Json(json!({ "message": "Updated successfully" })))
}

#[derive(Deserialize)]
struct BulkQuery {
    #[serde(default)]
    filter: String,
}

async fn bulk(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    query: Result<Query<BulkQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|_| BULK.bad_input())?;
    let users = state
        .bank
        .search(user, &query.filter, SEARCH_LIMIT)
        .await
        .map_err(|e| ApiError::bank(e, BULK))?;
    Ok(Json(json!({ "users": users })))
}
