//! The error the UI sees from a server function. Built on the server from the
//! service layer's error (one mapping, with the statuses it is answered
//! with, in `server_fns::errors`), serialised to the browser, and shown as
//! its message.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Bad input; `field` names the form field it belongs to, if any.
    #[error("{message}")]
    Invalid { field: Option<String>, message: String },
    #[error("That email is already registered")]
    EmailTaken,
    #[error("Incorrect email or password")]
    BadCredentials,
    #[error("Insufficient balance")]
    InsufficientBalance,
    #[error("Invalid account")]
    InvalidAccount,
    #[error("Please sign in again")]
    Unauthorized,
    #[error("Too many attempts, try again in a minute")]
    RateLimited,
    #[error("The service is busy, try again")]
    Unavailable,
    #[error("Something went wrong, try again")]
    Internal,
    /// The request never reached our code (network, encoding); shown as is.
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The message for one form field, if this error is about that field.
    pub fn field_message(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid {
                field: Some(f),
                message,
            } if f == name => Some(message.clone()),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(e) | ServerFnErrorErr::Response(e) => {
                AppError::Transport(format!("Could not reach Paisa: {e}"))
            }
            // Decoding a form that is missing or mangles a field.
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) | ServerFnErrorErr::Deserialization(_) => {
                AppError::Invalid {
                    field: None,
                    message: "Please fill in every field".into(),
                }
            }
            _ => AppError::Internal,
        }
    }
}
