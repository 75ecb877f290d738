//! The Receive card: the signed-in user's pay link and its QR code.

#[cfg(feature = "ssr")]
use super::{context, errors::respond};
use crate::error::AppError;
use crate::model::Receive;
use leptos::prelude::*;

/// The signed-in user's pay link, and its QR code.
#[server(endpoint = "receive")]
pub async fn get_receive() -> Result<Receive, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        let link = format!("{}{}{}", context::public_origin(), crate::paths::PAY, user.to_hex());
        let qr_svg = crate::server::qr::svg(&link).map_err(|_| AppError::Internal)?;
        Ok(Receive { link, qr_svg })
    })
    .await
}
