//! Server functions: the UI's calls into the service layer. Each is a thin
//! adapter: read the session, call `Bank`, map the error once (`AppError`).
//! Forms post to them directly, so they also work before the WASM loads.

use crate::error::AppError;
use crate::model::{HistoryEntry, HistoryPage, Me, Receipt, SendDialog, UserSummary};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::error::AppError;
    use crate::server::error::{BankError, Kind};
    use crate::server::session::{clear_session_cookie, session_cookie, AuthUser, ClientAddress};
    use crate::server::state::AppState;
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::{header, header::SET_COOKIE, HeaderValue, StatusCode};
    use axum::middleware::Next;
    use axum::response::Response;
    use leptos::prelude::*;
    use mongodb::bson::oid::ObjectId;

    /// The one mapping of a service failure to what the UI is told.
    impl From<BankError> for AppError {
        fn from(e: BankError) -> AppError {
            match (e.kind(), e) {
                (_, BankError::Invalid { field, message }) => AppError::invalid(field, message),
                (_, BankError::Amount(m)) => AppError::invalid("amount", m.to_string()),
                (Kind::EmailTaken, _) => AppError::EmailTaken,
                (Kind::BadCredentials, _) => AppError::BadCredentials,
                (Kind::InsufficientBalance, _) => AppError::InsufficientBalance,
                (Kind::InvalidAccount, _) => AppError::InvalidAccount,
                (Kind::RecipientLimit, _) => AppError::invalid(
                    "amount",
                    "The recipient cannot receive that much: their balance is at the limit",
                ),
                (Kind::IdempotencyMismatch, _) => AppError::Invalid {
                    field: None,
                    message: "This payment was already submitted with different details".into(),
                },
                (Kind::Unauthorized, _) => AppError::Unauthorized,
                (Kind::Unavailable, _) => AppError::Unavailable,
                (Kind::Invalid | Kind::Internal, _) => AppError::Internal,
            }
        }
    }

    pub fn state() -> AppState {
        expect_context::<AppState>()
    }

    /// The signed-in user: the same extractor as the REST routes'.
    pub async fn current_user() -> Result<ObjectId, AppError> {
        let AuthUser(user) = leptos_axum::extract_with_state(&state())
            .await
            .map_err(|_| AppError::Unauthorized)?;
        Ok(user)
    }

    /// Signs the browser in as `user`.
    pub fn start_session(user: ObjectId) -> Result<(), AppError> {
        let state = state();
        let token = state.tokens.issue(user)?;
        set_cookie(&session_cookie(&token, state.tokens.ttl(), state.cookie_secure));
        Ok(())
    }

    /// Counts a sign-in or sign-up attempt against the brute-force limits.
    pub async fn throttle(username: Option<&str>) -> Result<(), AppError> {
        let state = state();
        let ClientAddress(address) = leptos_axum::extract_with_state(&state)
            .await
            .unwrap_or(ClientAddress(None));
        state.throttle.attempt(address, username).map_err(|wait| {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                let secs = crate::server::throttle::retry_after_secs(wait);
                response.insert_header(axum::http::header::RETRY_AFTER, secs.into());
            }
            AppError::TooManyRequests
        })
    }

    /// Runs a server function's body; an error also sets the response's
    /// status (4xx for the user's mistakes, 5xx for ours), instead of the
    /// blanket 500 server functions otherwise answer with.
    pub async fn respond<T>(body: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
        let result = body.await;
        // A plain form post (no JavaScript) is answered with a redirect back
        // to the form, carrying the error; its status must stay a redirect.
        let form_post = use_context::<axum::http::request::Parts>().is_some_and(|p| {
            p.headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if let (Err(e), Some(response), false) = (&result, use_context::<leptos_axum::ResponseOptions>(), form_post) {
            if let Ok(status) = axum::http::StatusCode::from_u16(e.status()) {
                response.set_status(status);
            }
        }
        result
    }

    /// Where the server functions live (the REST API is under `/api/v1`).
    const SERVER_FN_PREFIX: &str = "/api/";

    /// A server function's failure must reach the browser as an `AppError`, or
    /// the client cannot decode it and shows a wrong message. Most are: the
    /// function's own errors (`server_fns::respond` also sets their status).
    /// This fixes the rest: arguments the server_fn crate could not decode
    /// (its blanket 500 gets the status of the error it carries) and answers
    /// made by a layer before or instead of the function (413, cross-site 403,
    /// the time limit's 503, a generic 500): their bodies are replaced by the
    /// `AppError` of their status. (A layer of the router.)
    pub async fn error_bodies(request: Request, next: Next) -> Response {
        let path = request.uri().path();
        if !path.starts_with(SERVER_FN_PREFIX) || path.starts_with("/api/v1/") {
            return next.run(request).await;
        }
        let response = next.run(request).await;
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
        let error = match serde_json::from_slice::<AppError>(&bytes) {
            Ok(error) => {
                if status == StatusCode::INTERNAL_SERVER_ERROR {
                    parts.status = StatusCode::from_u16(error.status()).unwrap_or(status);
                }
                error
            }
            Err(_) => AppError::for_status(status.as_u16()),
        };
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        let body = serde_json::to_vec(&error).unwrap_or_default();
        Response::from_parts(parts, Body::from(body))
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
    ssr::respond(async move {
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
    })
    .await
}

/// Signs in; the browser lands on the dashboard.
#[server(endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<(), AppError> {
    ssr::respond(async move {
        ssr::throttle(Some(&username)).await?;
        let user = ssr::state().bank.sign_in(&username, &password).await?;
        ssr::start_session(user)?;
        leptos_axum::redirect("/dashboard");
        Ok(())
    })
    .await
}

/// Signs out; the browser lands on the sign-in page.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    ssr::respond(async move {
        ssr::end_session();
        leptos_axum::redirect("/signin");
        Ok(())
    })
    .await
}

/// The signed-in user's name and balance, read from the database.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Me, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?;
        Ok(ssr::state().bank.me(user).await?)
    })
    .await
}

/// Changes the names and/or password; a blank field is left as it is.
#[server(endpoint = "update_profile")]
pub async fn update_profile(first_name: String, last_name: String, password: String) -> Result<(), AppError> {
    ssr::respond(async move {
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
        leptos_axum::redirect("/profile?saved=1");
        Ok(())
    })
    .await
}

/// Other users whose name starts with `filter`.
#[server(endpoint = "search_users")]
pub async fn search_users(filter: String) -> Result<Vec<UserSummary>, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?;
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
        let user = ssr::current_user().await?;
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

/// Sends `amount` (rupees, as typed) to the user `to`, then shows the
/// dialog's success state (`?sent=`), with or without JavaScript; a caller
/// that reads the answer gets the receipt (the journal entry and the new
/// balance) without another read. `idempotency_key` comes from `open_send`,
/// so a double click or a resubmitted form sends once.
#[server(endpoint = "send_money")]
pub async fn send_money(to: String, amount: String, idempotency_key: String) -> Result<Receipt, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?;
        let amount =
            crate::money::Money::parse_rupees(&amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let key = Some(idempotency_key.as_str()).filter(|k| !k.is_empty());
        let receipt = ssr::state().bank.transfer(user, &to, amount, key).await?;
        leptos_axum::redirect(&format!("/dashboard?send={}&sent={}", to.trim(), receipt.transfer_id));
        Ok(receipt)
    })
    .await
}

/// One transfer the signed-in user took part in.
#[server(endpoint = "transfer")]
pub async fn get_transfer(id: String) -> Result<HistoryEntry, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?;
        Ok(ssr::state().bank.history_entry(user, &id).await?)
    })
    .await
}

/// One page of the signed-in user's transfers, newest first.
#[server(endpoint = "history")]
pub async fn history(before: Option<String>) -> Result<HistoryPage, AppError> {
    ssr::respond(async move {
        let user = ssr::current_user().await?;
        let bank = &ssr::state().bank;
        Ok(bank
            .history(user, crate::server::bank::HISTORY_LIMIT, before.as_deref())
            .await?)
    })
    .await
}
