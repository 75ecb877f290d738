//! Server functions: the UI's calls into the service layer. Each is a thin
//! adapter: read the session, call `Bank`, map the error once (`AppError`).
//! Forms post to them directly, so they also work before the WASM loads.

use crate::error::AppError;
use crate::model::Me;
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
