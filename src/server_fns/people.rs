//! Finding people: by name, the ones one pays most, and one by id (the
//! person a dialog is about).

#[cfg(feature = "ssr")]
use super::{context, errors::respond};
use crate::error::AppError;
use crate::model::UserSummary;
use leptos::prelude::*;

/// Other users whose name starts with `filter`.
#[server(endpoint = "search_users")]
pub async fn search_users(filter: String) -> Result<Vec<UserSummary>, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        Ok(context::state()
            .bank
            .search(user, &filter, crate::server::bank::SEARCH_LIMIT)
            .await?)
    })
    .await
}

/// The user `id`, to pay or to ask: never the signed-in user themself.
/// (A dialog opened from a row already has the person; this is for a
/// dialog opened from its address, such as a pay link.)
#[server(endpoint = "person")]
pub async fn get_person(id: String) -> Result<UserSummary, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        if id.trim() == user.to_hex() {
            return Err(AppError::InvalidAccount);
        }
        Ok(context::state().bank.user(&id).await?)
    })
    .await
}

/// The last five people the signed-in user paid or was paid by.
#[server(endpoint = "recent_people")]
pub async fn recent_people() -> Result<Vec<UserSummary>, AppError> {
    respond(async move {
        let user = context::current_user().await?.user;
        Ok(context::state().bank.recent_people(user, 5).await?)
    })
    .await
}
