//! Sending money, and the history.

#[cfg(feature = "ssr")]
use super::{context, errors::respond};
use crate::error::AppError;
use crate::model::{HistoryEntry, HistoryPage, SendReceipt};
use leptos::prelude::*;

/// Sends `amount` (rupees, as typed) to the user `to`, with an optional
/// note. `idempotency_key` is made once per opening of the form (by the
/// server that rendered it, or by the browser), so a double click or a
/// resubmitted form sends once. A caller that reads the answer gets the
/// receipt, all its success view shows; a plain form post is sent on to
/// that view (`?send=…&sent=<entry>`) instead.
#[server(endpoint = "send_money")]
pub async fn send_money(
    to: String,
    amount: String,
    idempotency_key: String,
    note: Option<String>,
) -> Result<SendReceipt, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        let amount =
            crate::money::Money::parse_rupees(&amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let key = Some(idempotency_key.as_str()).filter(|k| !k.is_empty());
        let receipt = context::state()
            .bank
            .transfer_with_note(user, &to, amount, key, note.as_deref())
            .await?;
        // Only a form post: a redirect would send the browser's router to
        // that view too, which would read again what this answer holds.
        if super::errors::is_form_post() {
            let done = crate::paths::DashboardUrl {
                sent: Some(receipt.transfer_id.clone()),
                ..crate::paths::DashboardUrl::send(to.trim())
            };
            leptos_axum::redirect(&done.to_string());
        }
        Ok(SendReceipt {
            entry: receipt.transfer_id,
            amount,
            balance: receipt.balance,
        })
    })
    .await
}

/// One transfer the signed-in user took part in.
#[server(endpoint = "transfer")]
pub async fn get_transfer(id: String) -> Result<HistoryEntry, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        Ok(context::state().bank.history_entry(user, &id).await?)
    })
    .await
}

/// The transfer `id` for Send Money's success view after a form post
/// (`?send=<to>&sent=<id>`): only if the signed-in user sent it, to `to`.
/// The address is anyone's to write, and the view reads "Sent ₹X to <to>":
/// an entry they received, or one sent to someone else, must never pass
/// for a payment to `to`.
#[server(endpoint = "sent")]
pub async fn get_sent(to: String, id: String) -> Result<HistoryEntry, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        let entry = context::state().bank.history_entry(user, &id).await?;
        let to_them = entry.counterparty.as_ref().is_some_and(|c| c.id == to.trim());
        if entry.direction != crate::model::Direction::Sent || !to_them {
            return Err(AppError::invalid("transfer", "No such transfer"));
        }
        Ok(entry)
    })
    .await
}

/// One page of the signed-in user's transfers, newest first.
#[server(endpoint = "history")]
pub async fn history(before: Option<String>) -> Result<HistoryPage, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        let bank = &context::state().bank;
        Ok(bank
            .history(user, crate::server::bank::HISTORY_LIMIT, before.as_deref())
            .await?)
    })
    .await
}
