//! The service layer's one error type. It classifies itself
//! ([`BankError::kind`]); each adapter reports a failure once
//! ([`BankError::report`]: the kind, and the log of what only the log may
//! see) and maps the kind to its own output: `rest/error.rs` to a status and
//! a JSON body, `server_fns/errors.rs` to the UI's `AppError`.

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
    /// The recipient would hold more than the largest balance there is.
    #[error("recipient balance limit")]
    RecipientLimit,
    /// The same idempotency key was used before for a different transfer.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("missing or invalid session")]
    Unauthorized,
    /// The payment request is unknown, or not the caller's to act on.
    #[error("no such request")]
    NoSuchRequest,
    /// The payment request was already paid, declined, cancelled, or expired.
    #[error("request no longer pending")]
    NotPending,
    /// The requester has as many pending requests as allowed.
    #[error("too many pending requests")]
    PendingLimit,
    /// A transaction kept conflicting past its time bound. Safe to retry
    /// (with the same idempotency key).
    #[error("busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Db(#[from] mongodb::error::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a failure means for the caller, whatever the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bad input (including an amount); nothing changed.
    Invalid,
    EmailTaken,
    BadCredentials,
    InsufficientBalance,
    InvalidAccount,
    RecipientLimit,
    IdempotencyMismatch,
    Unauthorized,
    NoSuchRequest,
    NotPending,
    PendingLimit,
    /// Try again shortly: the database is unreachable or too busy.
    Unavailable,
    /// Our fault; the details are in the log only.
    Internal,
}

impl BankError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> BankError {
        BankError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// What this failure means for the caller.
    pub fn kind(&self) -> Kind {
        match self {
            BankError::Invalid { .. } | BankError::Amount(_) => Kind::Invalid,
            BankError::EmailTaken => Kind::EmailTaken,
            BankError::BadCredentials => Kind::BadCredentials,
            BankError::InsufficientBalance => Kind::InsufficientBalance,
            BankError::InvalidAccount => Kind::InvalidAccount,
            BankError::RecipientLimit => Kind::RecipientLimit,
            BankError::IdempotencyMismatch => Kind::IdempotencyMismatch,
            BankError::Unauthorized => Kind::Unauthorized,
            BankError::NoSuchRequest => Kind::NoSuchRequest,
            BankError::NotPending => Kind::NotPending,
            BankError::PendingLimit => Kind::PendingLimit,
            e if e.is_unavailable() => Kind::Unavailable,
            BankError::Busy(_) | BankError::Db(_) | BankError::Internal(_) => Kind::Internal,
        }
    }

    /// [`BankError::kind`], and the log line if the failure is ours (an
    /// outage as a warning, anything else as an error), tagged with the
    /// request id by the trace span: each adapter calls it once per failure.
    pub fn report(&self) -> Kind {
        let kind = self.kind();
        match kind {
            Kind::Unavailable => tracing::warn!(error = %self, "service unavailable"),
            Kind::Internal => tracing::error!(error = %self, "request failed"),
            _ => {}
        }
        kind
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_outcomes_are_told_apart_from_failures() {
        assert_eq!(BankError::invalid("amount", "x").kind(), Kind::Invalid);
        assert_eq!(BankError::Amount(MoneyError::Zero).kind(), Kind::Invalid);
        assert_eq!(BankError::InsufficientBalance.kind(), Kind::InsufficientBalance);
        assert_eq!(BankError::Busy("conflicts".into()).kind(), Kind::Unavailable);
        assert_eq!(BankError::Internal("bug".into()).kind(), Kind::Internal);
    }
}
