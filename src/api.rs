//! Server functions: the UI's calls into the service layer. Each is a thin
//! adapter: read the session, call `Bank`, map the error once (`AppError`).
//! Forms post to them directly, so they also work before the WASM loads.

use crate::error::AppError;
use crate::model::{HistoryPage, Me, Receipt, UserSummary};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::AppError;
    use crate::server::auth::{clear_session_cookie, session_cookie, token_from_headers};
    use crate::server::AppState;
    use axum::http::{header::SET_COOKIE, HeaderMap, HeaderValue};
    use leptos::prelude::*;
    use mongodb::bson::oid::ObjectId;

    pub fn state() -> AppState {
        expect_context::<AppState>()
    }

    /// The signed-in user, from the session cookie (or a Bearer header).
    pub async fn current_user() -> Result<ObjectId, AppError> {
        let headers: HeaderMap = leptos_axum::extract().await.map_err(|_| AppError::Unauthorized)?;
        let token = token_from_headers(&headers).ok_or(AppError::Unauthorized)?;
        Ok(state().sessions.verify(token)?)
    }

    /// Signs the browser in as `user`.
    pub fn start_session(user: ObjectId) -> Result<(), AppError> {
        let state = state();
        let token = state.sessions.issue(user)?;
        set_cookie(&session_cookie(&token, state.sessions.ttl(), state.cookie_secure));
        Ok(())
    }

    /// Counts a sign-in or sign-up attempt against the brute-force limits.
    pub async fn throttle(username: Option<&str>) -> Result<(), AppError> {
        use axum::extract::ConnectInfo;
        use std::net::SocketAddr;
        let state = state();
        let headers: HeaderMap = leptos_axum::extract().await.unwrap_or_default();
        let peer = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
            .await
            .ok()
            .map(|c| c.0);
        let address = crate::server::rest::client_address(state.trust_forwarded_for, &headers, peer);
        state.throttle.attempt(address, username).map_err(|wait| {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(axum::http::StatusCode::TOO_MANY_REQUESTS);
                let secs = crate::server::throttle::retry_after_secs(wait);
                response.insert_header(axum::http::header::RETRY_AFTER, secs.into());
            }
            AppError::TooManyRequests
        })
    }

    pub fn end_session() {
        set_cookie(&clear_session_cookie(state().cookie_secure));
    }

    fn set_cookie(value: &str) {
        if let (Some(response), Ok(value)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            HeaderValue::from_str(value),
        ) {
            response.append_header(SET_COOKIE, value);
        }
    }
}

/// Creates an account and signs in; the browser lands on the dashboard.
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    username: String,
    first_name: String,
    last_name: String,
    password: String,
) -> Result<(), AppError> {
    use crate::server::bank::SignUp;
    ssr::throttle(None).await?;
    let input = SignUp {
        username,
        first_name,
        last_name,
        password,
    };
    let user = ssr::state().bank.sign_up(input).await?;
    ssr::start_session(user)?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Signs in; the browser lands on the dashboard.
#[server(endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<(), AppError> {
    ssr::throttle(Some(&username)).await?;
    let user = ssr::state().bank.sign_in(&username, &password).await?;
    ssr::start_session(user)?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Signs out; the browser lands on the sign-in page.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    ssr::end_session();
    leptos_axum::redirect("/signin");
    Ok(())
}

/// The signed-in user's name and balance, read from the database.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Me, AppError> {
    let user = ssr::current_user().await?;
    Ok(ssr::state().bank.me(user).await?)
}

/// Changes the names and/or password; a blank field is left as it is.
#[server(endpoint = "update_profile")]
pub async fn update_profile(first_name: String, last_name: String, password: String) -> Result<(), AppError> {
    use crate::server::bank::ProfileUpdate;
    let user = ssr::current_user().await?;
    let given = |s: String| if s.trim().is_empty() { None } else { Some(s) };
    let update = ProfileUpdate {
        first_name: given(first_name),
        last_name: given(last_name),
        // Passwords are not trimmed: spaces may be part of one.
        password: if password.is_empty() { None } else { Some(password) },
    };
    ssr::state().bank.update_profile(user, update).await?;
    Ok(())
}

/// Other users whose name starts with `filter`.
#[server(endpoint = "search_users")]
pub async fn search_users(filter: String) -> Result<Vec<UserSummary>, AppError> {
    let user = ssr::current_user().await?;
    Ok(ssr::state()
        .bank
        .search(user, &filter, crate::server::bank::SEARCH_LIMIT)
        .await?)
}

/// Sends `amount` (rupees, as typed) to the user `to`. `idempotency_key` is
/// chosen by the browser once per Send Money dialog, so a double click or a
/// resubmitted form sends once.
#[server(endpoint = "send_money")]
pub async fn send_money(to: String, amount: String, idempotency_key: String) -> Result<Receipt, AppError> {
    let user = ssr::current_user().await?;
    let amount = crate::money::Money::parse_rupees(&amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
    let key = Some(idempotency_key.as_str()).filter(|k| !k.is_empty());
    Ok(ssr::state().bank.transfer(user, &to, amount, key).await?)
}

/// One page of the signed-in user's transfers, newest first.
#[server(endpoint = "history")]
pub async fn history(before: Option<String>) -> Result<HistoryPage, AppError> {
    let user = ssr::current_user().await?;
    let bank = &ssr::state().bank;
    Ok(bank
        .history(user, crate::server::bank::HISTORY_LIMIT, before.as_deref())
        .await?)
}
