//! Asking to be paid, and paying what one was asked: payment requests.

#[cfg(feature = "ssr")]
use super::{context, errors::respond};
use crate::error::AppError;
use crate::model::{PaymentRequest, Receipt, RequestBoard};
#[cfg(feature = "ssr")]
use crate::paths::DashboardUrl;
use leptos::prelude::*;

/// The signed-in user's pending requests: asking them, and asked by them.
#[server(endpoint = "request_board")]
pub async fn get_request_board() -> Result<RequestBoard, AppError> {
    respond(async move {
        use crate::model::RequestStatus;
        use crate::server::bank::Role;
        let user = context::current_user().await?.user;
        let bank = &context::state().bank;
        let (incoming, outgoing) = tokio::join!(
            bank.requests(user, Role::Incoming, Some(RequestStatus::Pending)),
            bank.requests(user, Role::Outgoing, Some(RequestStatus::Pending)),
        );
        Ok(RequestBoard {
            incoming: incoming?,
            outgoing: outgoing?,
        })
    })
    .await
}

/// Asks `from` to pay `amount` (rupees, as typed), with an optional note;
/// then shows the dialog's success state (`?asked=`).
#[server(endpoint = "ask_money")]
pub async fn ask_money(from: String, amount: String, note: Option<String>) -> Result<PaymentRequest, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        let amount =
            crate::money::Money::parse_rupees(&amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let request = context::state()
            .bank
            .request(user, &from, amount, note.as_deref())
            .await?;
        let done = DashboardUrl {
            asked: Some(request.id.clone()),
            ..DashboardUrl::request(from.trim())
        };
        leptos_axum::redirect(&done.to_string());
        Ok(request)
    })
    .await
}

/// A request asking the signed-in user to pay, for the confirm step.
#[server(endpoint = "open_pay")]
pub async fn open_pay(id: String) -> Result<PaymentRequest, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        Ok(context::state().bank.incoming_request(user, &id).await?)
    })
    .await
}

/// Pays request `id` (after the confirm step), then shows it paid.
#[server(endpoint = "pay_request")]
pub async fn pay_request(id: String) -> Result<Receipt, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        let receipt = context::state().bank.pay_request(user, &id).await?;
        leptos_axum::redirect(&DashboardUrl::pay(id.trim()).to_string());
        Ok(receipt)
    })
    .await
}

/// Declines request `id`; `block` (a checkbox: present or not) also
/// refuses the requester's further requests.
#[server(endpoint = "decline_request")]
pub async fn decline_request(id: String, block: Option<String>) -> Result<(), AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        context::state()
            .bank
            .decline_request(user, &id, block.is_some())
            .await?;
        leptos_axum::redirect(crate::paths::DASHBOARD);
        Ok(())
    })
    .await
}

/// Cancels the signed-in user's own request `id`.
#[server(endpoint = "cancel_request")]
pub async fn cancel_request(id: String) -> Result<(), AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        context::state().bank.cancel_request(user, &id).await?;
        leptos_axum::redirect(crate::paths::DASHBOARD);
        Ok(())
    })
    .await
}
