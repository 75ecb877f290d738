//! Finding people, sending money, and the history.

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;
use crate::model::{HistoryEntry, HistoryPage, Receipt, SendDialog, UserSummary};
use leptos::prelude::*;

/// Other users whose name starts with `filter`.
#[server(endpoint = "search_users")]
pub async fn search_users(filter: String) -> Result<Vec<UserSummary>, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        Ok(ssr::state()
            .bank
            .search(user, &filter, crate::server::bank::SEARCH_LIMIT)
            .await?)
    })
    .await
}

/// Opens the Send Money dialog for `to`: their name and a fresh
/// idempotency key for this opening.
#[server(endpoint = "open_send")]
pub async fn open_send(to: String) -> Result<SendDialog, AppError> {
    ssr::respond(async move {
        use rand::Rng;
        let user = ssr::current_user().await?.user;
        if to.trim() == user.to_hex() {
            return Err(AppError::InvalidAccount);
        }
        let recipient = ssr::state().bank.user(&to).await?;
        let key: String = (0..16)
            .map(|_| format!("{:02x}", rand::thread_rng().gen::<u8>()))
            .collect();
        Ok(SendDialog { recipient, key })
    })
    .await
}

/// Sends `amount` (rupees, as typed) to the user `to`, with an optional note, then shows the
/// dialog's success state (`?sent=`), with or without JavaScript; a caller
/// that reads the answer gets the receipt (the journal entry and the new
/// balance) without another read. `idempotency_key` comes from `open_send`,
/// so a double click or a resubmitted form sends once.
#[server(endpoint = "send_money")]
pub async fn send_money(
    to: String,
    amount: String,
    idempotency_key: String,
    note: Option<String>,
) -> Result<Receipt, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        let amount =
            crate::money::Money::parse_rupees(&amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let key = Some(idempotency_key.as_str()).filter(|k| !k.is_empty());
        let receipt = ssr::state()
            .bank
            .transfer_with_note(user, &to, amount, key, note.as_deref())
            .await?;
        leptos_axum::redirect(&format!("/dashboard?send={}&sent={}", to.trim(), receipt.transfer_id));
        Ok(receipt)
    })
    .await
}

/// One transfer the signed-in user took part in.
#[server(endpoint = "transfer")]
pub async fn get_transfer(id: String) -> Result<HistoryEntry, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        Ok(ssr::state().bank.history_entry(user, &id).await?)
    })
    .await
}

/// One page of the signed-in user's transfers, newest first.
#[server(endpoint = "history")]
pub async fn history(before: Option<String>) -> Result<HistoryPage, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        let bank = &ssr::state().bank;
        Ok(bank
            .history(user, crate::server::bank::HISTORY_LIMIT, before.as_deref())
            .await?)
    })
    .await
}
