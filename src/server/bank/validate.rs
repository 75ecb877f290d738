//! Checks on what users type, before anything reaches the database: each
//! refusal carries the message the user sees and the field it belongs to.

use crate::money::{Money, MoneyError, MAX_PAISE};
use crate::server::error::BankError;

/// Trimmed, lower-cased, and shaped like an address: one `@`, a dotted
/// domain, no spaces. (Whether it receives mail is not ours to check.)
pub fn normalize_email(raw: &str) -> Result<String, BankError> {
    let email = raw.trim().to_lowercase();
    let bad = || BankError::invalid("username", "Enter a valid email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return Err(bad());
    }
    Ok(email)
}

/// Trimmed, 1 to 50 characters, no control characters.
pub fn clean_name(field: &'static str, raw: &str) -> Result<String, BankError> {
    let name = raw.trim();
    let label = if field == "firstName" {
        "First name"
    } else {
        "Last name"
    };
    if name.is_empty() {
        return Err(BankError::invalid(field, format!("{label} is required")));
    }
    if name.chars().count() > 50 {
        return Err(BankError::invalid(
            field,
            format!("{label} must be at most 50 characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(BankError::invalid(
            field,
            format!("{label} contains invalid characters"),
        ));
    }
    Ok(name.to_owned())
}

/// 8 to 128 characters (NIST 800-63B: length, not composition rules).
pub fn check_password(password: &str) -> Result<(), BankError> {
    match password.chars().count() {
        0..=7 => Err(BankError::invalid("password", "Password must be at least 8 characters")),
        129.. => Err(BankError::invalid(
            "password",
            "Password must be at most 128 characters",
        )),
        _ => Ok(()),
    }
}

/// 1 to 128 printable ASCII characters: the client's name for one transfer.
pub fn idempotency_key(key: &str) -> Result<String, BankError> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BankError::invalid(
            "idempotencyKey",
            "Idempotency key must be 1 to 128 printable characters",
        ));
    }
    Ok(key.to_owned())
}

/// An amount that can move: positive and at most the largest amount the
/// parser accepts (a `Money` built from paise has not been through it).
pub fn amount(amount: Money) -> Result<Money, BankError> {
    match amount.paise() {
        p if p < 0 => Err(MoneyError::Negative.into()),
        0 => Err(MoneyError::Zero.into()),
        p if p > MAX_PAISE => Err(MoneyError::TooLarge.into()),
        _ => Ok(amount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Asha.Rao@Example.COM ").unwrap(),
            "asha.rao@example.com"
        );
        for bad in [
            "",
            "asha",
            "asha@",
            "@x.com",
            "asha@localhost",
            "a b@x.com",
            "a@b@c.com",
            "a@x..com",
            "a@-x.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("firstName", "  Asha ").unwrap(), "Asha");
        assert!(clean_name("firstName", "   ").is_err());
        assert!(clean_name("lastName", &"x".repeat(51)).is_err());
        assert_eq!(clean_name("lastName", &"é".repeat(50)).unwrap().chars().count(), 50);
        assert!(clean_name("lastName", "a\u{0}b").is_err());
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"p".repeat(128)).is_ok());
        assert!(check_password(&"p".repeat(129)).is_err());
    }

    #[test]
    fn idempotency_keys_are_short_printable_ascii() {
        assert!(idempotency_key("7f1c-a").is_ok());
        assert!(idempotency_key(&"k".repeat(128)).is_ok());
        for bad in ["", "a b", "ключ", "tab\t"] {
            assert!(idempotency_key(bad).is_err(), "{bad:?}");
        }
        assert!(idempotency_key(&"k".repeat(129)).is_err());
    }

    #[test]
    fn amounts_are_positive_and_bounded() {
        assert!(amount(Money::from_paise(1)).is_ok());
        assert!(amount(Money::from_paise(MAX_PAISE)).is_ok());
        assert!(matches!(amount(Money::ZERO), Err(BankError::Amount(MoneyError::Zero))));
        assert!(matches!(
            amount(Money::from_paise(-5)),
            Err(BankError::Amount(MoneyError::Negative))
        ));
        assert!(matches!(
            amount(Money::from_paise(MAX_PAISE + 1)),
            Err(BankError::Amount(MoneyError::TooLarge))
        ));
    }
}
