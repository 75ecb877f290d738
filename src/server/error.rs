//! The service layer's one error type, and its one mapping to what the UI
//! sees (`AppError`). The REST adapter maps it to status codes in `rest.rs`.

use crate::error::AppError;
use crate::money::MoneyError;

#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Amount(#[from] MoneyError),
    #[error("email already registered")]
    EmailTaken,
    #[error("wrong email or password")]
    BadCredentials,
    #[error("insufficient balance")]
    InsufficientBalance,
    /// The recipient is missing, malformed or the sender themselves.
    #[error("invalid account")]
    InvalidAccount,
    /// The same idempotency key was used before for a different transfer.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("missing or invalid session")]
    Unauthorized,
    /// A transaction kept conflicting past its time bound. Safe to retry
    /// (with the same idempotency key).
    #[error("busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Db(#[from] mongodb::error::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl BankError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> BankError {
        BankError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl BankError {
    /// Whether the caller should be told "try again later" (503) rather than
    /// "something broke" (500): the database is unreachable or overloaded.
    pub fn is_unavailable(&self) -> bool {
        use mongodb::error::ErrorKind;
        match self {
            BankError::Busy(_) => true,
            BankError::Db(e) => matches!(
                *e.kind,
                ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
            ),
            _ => false,
        }
    }

    /// A conflict the whole transaction should be run again for.
    pub fn is_transient(&self) -> bool {
        matches!(self, BankError::Db(e) if e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR))
    }
}

impl From<BankError> for AppError {
    fn from(e: BankError) -> AppError {
        match e {
            BankError::Invalid { field, message } => AppError::invalid(field, message),
            BankError::Amount(m) => AppError::invalid("amount", m.to_string()),
            BankError::EmailTaken => AppError::EmailTaken,
            BankError::BadCredentials => AppError::BadCredentials,
            BankError::InsufficientBalance => AppError::InsufficientBalance,
            BankError::InvalidAccount => AppError::InvalidAccount,
            BankError::IdempotencyMismatch => AppError::Invalid {
                field: None,
                message: "This payment was already submitted with different details".into(),
            },
            BankError::Unauthorized => AppError::Unauthorized,
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "service unavailable");
                AppError::Unavailable
            }
            BankError::Busy(_) => AppError::Unavailable,
            BankError::Db(err) => {
                tracing::error!(error = %err, "database error");
                AppError::Internal
            }
            BankError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                AppError::Internal
            }
        }
    }
}
