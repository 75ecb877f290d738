//! Signing up, in and out; the profile and the sessions.

#[cfg(feature = "ssr")]
use super::{context, errors::respond};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::describe_user_agent;
use crate::model::{Me, SignedInDevice};
use leptos::prelude::*;

/// Creates an account and signs in; the browser lands on the dashboard.
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    username: String,
    first_name: String,
    last_name: String,
    password: String,
) -> Result<(), AppError> {
    respond(async move {
        use crate::server::bank::SignUp;
        context::throttle_sign_up().await?;
        let input = SignUp {
            username,
            first_name,
            last_name,
            password,
        };
        let user = context::state().bank.sign_up(input).await?;
        context::start_session(user).await?;
        leptos_axum::redirect(crate::paths::DASHBOARD);
        Ok(())
    })
    .await
}

/// Signs in; the browser lands on `next` (the private page, or pay link,
/// that sent it to sign in) or the dashboard.
#[server(endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    respond(async move {
        // Where to land is settled before a session exists.
        let to = crate::paths::after_sign_in(next.as_deref()).to_owned();
        context::sign_in(&username, &password).await?;
        leptos_axum::redirect(&to);
        Ok(())
    })
    .await
}

/// Signs out; the browser lands on the sign-in page.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    respond(async move {
        // Ends the session on the server (its token is dead everywhere),
        // then forgets the cookie; signed out already, just the latter.
        if let Ok(me) = context::current_user().await {
            context::state().sessions.end(me.user, me.session).await?;
        }
        context::clear_cookie();
        leptos_axum::redirect(crate::paths::SIGN_IN);
        Ok(())
    })
    .await
}

/// Ends every session of the signed-in user, this one included.
#[server(endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    respond(async move {
        let me = context::current_user().await?;
        context::state().sessions.end_all(me.user, None).await?;
        context::clear_cookie();
        leptos_axum::redirect(crate::paths::SIGN_IN);
        Ok(())
    })
    .await
}

/// The signed-in user's devices: their live sessions, this one marked.
#[server(endpoint = "sessions")]
pub async fn list_sessions() -> Result<Vec<SignedInDevice>, AppError> {
    respond(async move {
        let me = context::current_user().await?;
        let sessions = context::state().sessions.list(me.user, me.session).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SignedInDevice {
                id: s.id,
                description: describe_user_agent(&s.user_agent),
                signed_in_at: s.created_at,
                last_seen_at: s.last_seen_at,
                current: s.current,
            })
            .collect())
    })
    .await
}

/// Ends one of the signed-in user's other sessions (that device is signed
/// out at once).
#[server(endpoint = "end_session")]
pub async fn end_session(id: String) -> Result<(), AppError> {
    respond(async move {
        let me = context::current_user().await?;
        let sid = mongodb::bson::oid::ObjectId::parse_str(id.trim())
            .map_err(|_| AppError::invalid("session", "No such session"))?;
        if !context::state().sessions.end(me.user, sid).await? {
            return Err(AppError::invalid("session", "No such session"));
        }
        leptos_axum::redirect(if sid == me.session {
            crate::paths::SIGN_IN
        } else {
            crate::paths::PROFILE
        });
        Ok(())
    })
    .await
}

/// The signed-in user's name and balance, read from the database.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Me, AppError> {
    respond(async move {
        let me = context::current_user().await?;
        Ok(context::state().bank.me(me.user).await?)
    })
    .await
}

/// Changes the names and/or password; a blank field is left as it is.
#[server(endpoint = "update_profile")]
pub async fn update_profile(
    first_name: String,
    last_name: String,
    password: String,
    current_password: String,
) -> Result<(), AppError> {
    respond(async move {
        use crate::server::bank::ProfileUpdate;
        let me = context::current_user().await?;
        let given = |s: String| if s.trim().is_empty() { None } else { Some(s) };
        // Passwords are not trimmed: spaces may be part of one.
        let typed = |p: String| if p.is_empty() { None } else { Some(p) };
        let update = ProfileUpdate {
            first_name: given(first_name),
            last_name: given(last_name),
            password: typed(password),
            current_password: typed(current_password),
        };
        let new_password = update.password.is_some();
        if update.checks_password() {
            context::throttle_password_change(me.user)?;
        }
        let state = context::state();
        state.bank.update_profile(me.user, update).await?;
        // A new password ends every other session; this one stays.
        if new_password {
            state.sessions.end_all(me.user, Some(me.session)).await?;
        }
        leptos_axum::redirect("/profile?saved=1");
        Ok(())
    })
    .await
}
