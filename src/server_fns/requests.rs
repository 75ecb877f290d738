//! Asking to be paid, and paying what one was asked: payment requests,
//! the people one pays most, and the Receive card.

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;
use crate::model::{PaymentRequest, Receipt, Receive, RequestBoard, UserSummary};
use leptos::prelude::*;

/// The signed-in user's pending requests: asking them, and asked by them.
#[server(endpoint = "request_board")]
pub async fn get_request_board() -> Result<RequestBoard, AppError> {
    ssr::respond(async move {
        use crate::model::RequestStatus;
        use crate::server::bank::Role;
        let user = ssr::current_user().await?.user;
        let bank = &ssr::state().bank;
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
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        let amount =
            crate::money::Money::parse_rupees(&amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let request = ssr::state().bank.request(user, &from, amount, note.as_deref()).await?;
        leptos_axum::redirect(&format!("/dashboard?request={}&asked={}", from.trim(), request.id));
        Ok(request)
    })
    .await
}

/// A request asking the signed-in user to pay, for the confirm step.
#[server(endpoint = "open_pay")]
pub async fn open_pay(id: String) -> Result<PaymentRequest, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        Ok(ssr::state().bank.incoming_request(user, &id).await?)
    })
    .await
}

/// Pays request `id` (after the confirm step), then shows it paid.
#[server(endpoint = "pay_request")]
pub async fn pay_request(id: String) -> Result<Receipt, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        let receipt = ssr::state().bank.pay_request(user, &id).await?;
        leptos_axum::redirect(&format!("/dashboard?pay={}", id.trim()));
        Ok(receipt)
    })
    .await
}

/// Declines request `id`; `block` (a checkbox: present or not) also
/// refuses the requester's further requests.
#[server(endpoint = "decline_request")]
pub async fn decline_request(id: String, block: Option<String>) -> Result<(), AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        ssr::state().bank.decline_request(user, &id, block.is_some()).await?;
        leptos_axum::redirect("/dashboard");
        Ok(())
    })
    .await
}

/// Cancels the signed-in user's own request `id`.
#[server(endpoint = "cancel_request")]
pub async fn cancel_request(id: String) -> Result<(), AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        ssr::state().bank.cancel_request(user, &id).await?;
        leptos_axum::redirect("/dashboard");
        Ok(())
    })
    .await
}

/// The last five people the signed-in user paid or was paid by.
#[server(endpoint = "recent_people")]
pub async fn recent_people() -> Result<Vec<UserSummary>, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        Ok(ssr::state().bank.recent_people(user, 5).await?)
    })
    .await
}

/// The signed-in user's pay link, and its QR code.
#[server(endpoint = "receive")]
pub async fn get_receive() -> Result<Receive, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?.user;
        let link = format!("{}/pay/{}", ssr::public_origin(), user.to_hex());
        let qr_svg = crate::server::qr::svg(&link).map_err(|_| AppError::Internal)?;
        Ok(Receive { link, qr_svg })
    })
    .await
}
