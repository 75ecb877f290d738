//! `/requests`: payment requests. Ask someone to pay you, list what you
//! were asked and what you asked, pay, decline (optionally blocking), or
//! cancel. The rules are `bank/requests.rs`'s.

use super::error::{ApiError, Refusals};
use super::extract::{BadInput, StrictJson};
use crate::model::{PaymentRequest, RequestStatus};
use crate::money::Money;
use crate::server::auth::extract::AuthUser;
use crate::server::bank::Role;
use crate::server::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, value::RawValue, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(list).post(create))
        .route("/requests/{id}/pay", post(pay))
        .route("/requests/{id}/decline", post(decline))
        .route("/requests/{id}/cancel", post(cancel))
}

const LIST: Refusals = Refusals::All(StatusCode::BAD_REQUEST, "Invalid query");

#[derive(Deserialize)]
struct CreateBody {
    from: String,
    /// The exact JSON text of the amount, parsed by `Money`.
    amount: Box<RawValue>,
    note: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    body: Result<StrictJson<CreateBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let StrictJson(body) = body.map_err(|_| Refusals::Named.bad_input())?;
    let amount = Money::parse_json_number(body.amount.get()).map_err(ApiError::invalid_amount)?;
    let request = state
        .bank
        .request(user, &body.from, amount, body.note.as_deref())
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({ "request": request_json(&request) })))
}

#[derive(Deserialize)]
struct ListQuery {
    role: Option<String>,
    status: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|_| LIST.bad_input())?;
    let role = match query.role.as_deref().unwrap_or("incoming") {
        "incoming" => Role::Incoming,
        "outgoing" => Role::Outgoing,
        _ => return Err(LIST.bad_input()),
    };
    let status = match query.status.as_deref().unwrap_or("pending") {
        "all" => None,
        other => Some(RequestStatus::parse(other).ok_or_else(|| LIST.bad_input())?),
    };
    let requests = state
        .bank
        .requests(user, role, status)
        .await
        .map_err(|e| ApiError::bank(e, LIST))?;
    let requests: Vec<Value> = requests.iter().map(request_json).collect();
    Ok(Json(json!({ "requests": requests })))
}

async fn pay(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let paid = state
        .bank
        .pay_request(user, &id)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({
        "message": "Transfer successful",
        "transferId": paid.transfer_id,
        "balance": paid.balance.to_rupees_f64(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineBody {
    #[serde(default)]
    block: bool,
}

async fn decline(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    // The body is optional: none is `{"block": false}`.
    let block = if request.headers().contains_key(header::CONTENT_TYPE) {
        let StrictJson(body) = StrictJson::<DeclineBody>::from_request(request, &state)
            .await
            .map_err(|_| Refusals::Named.bad_input())?;
        body.block
    } else {
        false
    };
    let declined = state
        .bank
        .decline_request(user, &id, block)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({ "request": request_json(&declined) })))
}

async fn cancel(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let cancelled = state
        .bank
        .cancel_request(user, &id)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({ "request": request_json(&cancelled) })))
}

/// A request as the API writes it (also in live `request` events).
pub(super) fn request_json(r: &PaymentRequest) -> Value {
    let party =
        |p: &crate::model::UserSummary| json!({ "_id": p.id, "firstName": p.first_name, "lastName": p.last_name });
    json!({
        "id": r.id,
        "from": party(&r.from),
        "to": party(&r.to),
        "amount": r.amount.to_rupees_f64(),
        "note": r.note,
        "status": r.status,
        "createdAt": super::rfc3339(r.created_at),
        "expiresAt": super::rfc3339(r.expires_at),
    })
}
