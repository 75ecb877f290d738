//! `/account`: balance, transfers, and the ledger.

use super::error::{ApiError, Refusals};
use super::extract::{BadInput, StrictJson};
use crate::money::Money;
use crate::server::auth::extract::AuthUser;
use crate::server::bank::{HISTORY_LIMIT, HISTORY_MAX};
use crate::server::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, value::RawValue, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/balance", get(balance))
        .route("/account/transfer", post(transfer))
        .route("/account/transactions", get(transactions))
}

const HISTORY: Refusals = Refusals::All(StatusCode::BAD_REQUEST, "Invalid query");

async fn balance(State(state): State<AppState>, AuthUser { user, .. }: AuthUser) -> Result<Json<Value>, ApiError> {
    let balance = state
        .bank
        .balance(user)
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({ "balance": balance.to_rupees_f64() })))
}

#[derive(Deserialize)]
struct TransferBody {
    to: String,
    /// The exact JSON text of the amount, parsed by `Money`.
    amount: Box<RawValue>,
    note: Option<String>,
}

async fn transfer(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    headers: HeaderMap,
    body: Result<StrictJson<TransferBody>, BadInput>,
) -> Result<Json<Value>, ApiError> {
    let StrictJson(body) = body.map_err(|_| Refusals::Named.bad_input())?;
    let amount = Money::parse_json_number(body.amount.get()).map_err(ApiError::invalid_amount)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Invalid Idempotency-Key"))?,
        ),
        None => None,
    };
    let receipt = state
        .bank
        .transfer_with_note(user, &body.to, amount, key, body.note.as_deref())
        .await
        .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    Ok(Json(json!({
        "message": "Transfer successful",
        "transferId": receipt.transfer_id,
        "balance": receipt.balance.to_rupees_f64(),
    })))
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
    before: Option<String>,
}

async fn transactions(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|_| HISTORY.bad_input())?;
    if query.limit.is_some_and(|l| l == 0 || l > HISTORY_MAX) {
        return Err(HISTORY.bad_input());
    }
    let page = state
        .bank
        .history(user, query.limit.unwrap_or(HISTORY_LIMIT), query.before.as_deref())
        .await
        .map_err(|e| ApiError::bank(e, HISTORY))?;
    let transactions: Vec<Value> = page.entries.iter().map(super::history_json).collect();
    Ok(Json(json!({ "transactions": transactions, "next": page.next })))
}
