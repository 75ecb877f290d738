//! The JSON API under `/api/v1`, compatible with the original Express
//! backend: the same paths, bodies, messages and status codes (SPEC.md).
//! Thin: parse strictly, call `Bank`, map the outcome once.

use super::auth::token_from_headers;
use super::error::BankError;
use super::throttle::retry_after_secs;
use super::AppState;
use crate::model::{Direction, HistoryEntry};
use crate::money::{Money, MoneyError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use mongodb::bson::oid::ObjectId;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, value::RawValue, Value};
use std::net::{IpAddr, SocketAddr};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/signup", post(sign_up))
        .route("/user/signin", post(sign_in))
        .route("/user", put(update_user))
        .route("/user/bulk", get(bulk))
        .route("/account/balance", get(balance))
        .route("/account/transfer", post(transfer))
        .route("/account/transactions", get(transactions))
}

// ----- errors ------------------------------------------------------------

/// An API answer other than success: a status and a JSON body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: &str) -> ApiError {
        ApiError {
            status,
            body: json!({ "message": message }),
            retry_after: None,
        }
    }

    /// Missing, malformed, forged or expired credentials: 403 `{}`.
    fn forbidden() -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({}),
            retry_after: None,
        }
    }

    /// Maps a service outcome: the route's documented answer for business
    /// outcomes, and generic 403/503/500 answers for the rest (details go
    /// to the log only, tagged with the request id by the trace layer).
    fn from_bank(e: BankError, documented: ApiError) -> ApiError {
        match e {
            BankError::Unauthorized => ApiError::forbidden(),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "service unavailable");
                ApiError::unavailable()
            }
            BankError::Db(_) | BankError::Internal(_) => {
                tracing::error!(error = %e, "request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
            _ => documented,
        }
    }

    /// The database is unreachable or too slow: try again shortly.
    pub(crate) fn unavailable() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({ "message": "Service unavailable, try again" }),
            retry_after: Some(1),
        }
    }

    fn too_many(wait: std::time::Duration) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({ "message": "Too many attempts, try again later" }),
            retry_after: Some(retry_after_secs(wait)),
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

// ----- extractors ----------------------------------------------------------

/// The signed-in user: from `Authorization: Bearer <jwt>` or the session
/// cookie. Anything else is 403 `{}` before the handler runs.
pub struct AuthUser(pub ObjectId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AuthUser, ApiError> {
        let token = token_from_headers(&parts.headers).ok_or_else(ApiError::forbidden)?;
        state
            .sessions
            .verify(token)
            .map(AuthUser)
            .map_err(|_| ApiError::forbidden())
    }
}

/// A JSON body, strictly: `application/json`, at most the router's size
/// limit, and no `$`-prefixed key anywhere (operator injection), before it
/// is read into `T`. Any failure is `BadInput`; each route answers it with
/// its own documented error.
pub struct StrictJson<T>(pub T);

#[derive(Debug)]
pub struct BadInput;

impl IntoResponse for BadInput {
    fn into_response(self) -> Response {
        ApiError::new(StatusCode::BAD_REQUEST, "Invalid request").into_response()
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = BadInput;

    async fn from_request(req: Request, state: &S) -> Result<StrictJson<T>, BadInput> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(BadInput);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| BadInput)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| BadInput)?;
        if has_operator_key(&value) {
            return Err(BadInput);
        }
        // Parsed again from the bytes (not the Value) so amounts keep their
        // exact source text.
        serde_json::from_slice(&bytes).map(StrictJson).map_err(|_| BadInput)
    }
}

fn has_operator_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.starts_with('$') || has_operator_key(v)),
        Value::Array(items) => items.iter().any(has_operator_key),
        _ => false,
    }
}

/// The client's address, for throttling: the peer, or with
/// `TRUST_FORWARDED_FOR` the address our own proxy appended last.
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ClientAddress, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ClientAddress(client_address(
            state.trust_forwarded_for,
            &parts.headers,
            peer,
        )))
    }
}

pub fn client_address(trust_forwarded_for: bool, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if trust_forwarded_for {
        if let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    peer.map(|p| p.ip())
}

// ----- users -------------------------------------------------------------

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
    body: Result<StrictJson<SignUpBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let documented = || ApiError::new(StatusCode::LENGTH_REQUIRED, "Email already taken / Incorrect inputs");
    state.throttle.attempt(address, None).map_err(ApiError::too_many)?;
    let StrictJson(body) = body.map_err(|_| documented())?;
    let input = super::bank::SignUp {
        username: body.username,
        first_name: body.first_name,
        last_name: body.last_name,
        password: body.password,
    };
    let user = state.bank.sign_up(input).await;
    let token = issue_token(&state, user).map_err(|e| ApiError::from_bank(e, documented()))?;
    Ok(Json(json!({ "message": "User created successfully", "token": token })))
}

/// The session token for a user just signed up or in.
fn issue_token(state: &AppState, user: Result<ObjectId, BankError>) -> Result<String, BankError> {
    state.sessions.issue(user?)
}

#[derive(Deserialize)]
struct SignInBody {
    username: String,
    password: String,
}

async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Result<StrictJson<SignInBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let documented = || ApiError::new(StatusCode::LENGTH_REQUIRED, "Error while logging in");
    let body = body.ok().map(|StrictJson(b)| b);
    state
        .throttle
        .attempt(address, body.as_ref().map(|b| b.username.as_str()))
        .map_err(ApiError::too_many)?;
    let body = body.ok_or_else(documented)?;
    let user = state.bank.sign_in(&body.username, &body.password).await;
    let token = issue_token(&state, user).map_err(|e| ApiError::from_bank(e, documented()))?;
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    password: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    body: Result<StrictJson<UpdateBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let documented = || ApiError::new(StatusCode::LENGTH_REQUIRED, "Error while updating information");
    let StrictJson(body) = body.map_err(|_| documented())?;
    let update = super::bank::ProfileUpdate {
        first_name: body.first_name,
        last_name: body.last_name,
        password: body.password,
    };
    state
        .bank
        .update_profile(user, update)
        .await
        .map_err(|e| ApiError::from_bank(e, documented()))?;
    Ok(Json(json!({ "message": "Updated successfully" })))
}

#[derive(Deserialize)]
struct BulkQuery {
    #[serde(default)]
    filter: String,
}

async fn bulk(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    query: Result<Query<BulkQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let documented = || ApiError::new(StatusCode::BAD_REQUEST, "Invalid filter");
    let Query(query) = query.map_err(|_| documented())?;
    let users = state
        .bank
        .search(user, &query.filter, super::bank::SEARCH_LIMIT)
        .await
        .map_err(|e| ApiError::from_bank(e, documented()))?;
    Ok(Json(json!({ "users": users })))
}

// ----- accounts ----------------------------------------------------------

async fn balance(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Value>, ApiError> {
    let balance = state
        .bank
        .balance(user)
        .await
        .map_err(|e| ApiError::from_bank(e, ApiError::forbidden()))?;
    Ok(Json(json!({ "balance": balance.to_rupees_f64() })))
}

#[derive(Deserialize)]
struct TransferBody {
    to: String,
    /// The exact JSON text of the amount, parsed by `Money`.
    amount: Box<RawValue>,
}

async fn transfer(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Result<StrictJson<TransferBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let invalid_amount = |why: MoneyError| ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({ "message": "Invalid amount", "reason": why.to_string() }),
        retry_after: None,
    };
    let StrictJson(body) = body.map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Invalid request"))?;
    let amount = Money::parse_json_number(body.amount.get()).map_err(invalid_amount)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Invalid Idempotency-Key"))?,
        ),
        None => None,
    };
    match state.bank.transfer(user, &body.to, amount, key).await {
        Ok(_) => Ok(Json(json!({ "message": "Transfer successful" }))),
        Err(e) => {
            let documented = match &e {
                BankError::InsufficientBalance => ApiError::new(StatusCode::BAD_REQUEST, "Insufficient balance"),
                BankError::InvalidAccount => ApiError::new(StatusCode::BAD_REQUEST, "Invalid account"),
                BankError::Amount(why) => invalid_amount(*why),
                BankError::IdempotencyMismatch => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Idempotency-Key was already used for a different transfer",
                ),
                BankError::Invalid { message, .. } => ApiError::new(StatusCode::BAD_REQUEST, message),
                _ => ApiError::new(StatusCode::BAD_REQUEST, "Invalid request"),
            };
            Err(ApiError::from_bank(e, documented))
        }
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
    before: Option<String>,
}

async fn transactions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let documented = || ApiError::new(StatusCode::BAD_REQUEST, "Invalid query");
    let Query(query) = query.map_err(|_| documented())?;
    if query.limit.is_some_and(|l| l == 0 || l > super::bank::HISTORY_MAX) {
        return Err(documented());
    }
    let page = state
        .bank
        .history(
            user,
            query.limit.unwrap_or(super::bank::HISTORY_LIMIT),
            query.before.as_deref(),
        )
        .await
        .map_err(|e| ApiError::from_bank(e, documented()))?;
    let transactions: Vec<Value> = page.entries.iter().map(history_json).collect();
    Ok(Json(json!({ "transactions": transactions, "next": page.next })))
}

fn history_json(e: &HistoryEntry) -> Value {
    let created = chrono::DateTime::from_timestamp_millis(e.created_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    json!({
        "id": e.id,
        "direction": match e.direction { Direction::Sent => "sent", Direction::Received => "received" },
        "counterparty": e.counterparty,
        "amount": e.amount.to_rupees_f64(),
        "createdAt": created,
    })
}
