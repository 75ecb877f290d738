//! Money is an integer count of paise (1 rupee = 100 paise) everywhere: in
//! MongoDB, in the service layer and in the UI. Text and JSON amounts are
//! parsed here, and only here; balances are formatted here, and only here.

use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::limits::MAX_PAISE;

/// An amount of money in paise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

/// Why an amount was refused; the message is shown to the user as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("Enter an amount")]
    Empty,
    #[error("Amount must be a number of rupees, like 250 or 99.50")]
    NotANumber,
    #[error("Amount cannot be negative")]
    Negative,
    #[error("Amount must be greater than zero")]
    Zero,
    #[error("Amount can have at most 2 decimal places")]
    TooPrecise,
    #[error("Amount is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_paise(paise: i64) -> Money {
        Money(paise)
    }

    pub const fn paise(self) -> i64 {
        self.0
    }

    /// Parses a positive amount of rupees written as plain decimal text:
    /// `250`, `99.5`, `0.10`, `.5`, optionally prefixed by `₹`. Exponents,
    /// signs, grouping commas, NaN and infinities are refused rather than
    /// guessed at: in a payments app a misread amount is worse than an error.
    pub fn parse_rupees(text: &str) -> Result<Money, MoneyError> {
        let text = text.trim();
        let text = text.strip_prefix('₹').unwrap_or(text).trim_start();
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, frac) = match text.split_once('.') {
            Some((whole, frac)) => (whole, Some(frac)),
            None => (text, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !frac.is_none_or(all_digits) {
            return Err(MoneyError::NotANumber);
        }
        // A lone point, or a trailing one ("5."), is more likely a typo than 5.
        if frac == Some("") || whole.is_empty() && frac.is_none() {
            return Err(MoneyError::NotANumber);
        }
        let frac = frac.unwrap_or("");
        if frac.len() > 2 {
            // `1.500` is still exact, but a client sending three decimals is
            // confused about units; refuse instead of silently rounding.
            return Err(MoneyError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        // 13 digits of rupees already exceeds MAX_PAISE; checking length first
        // keeps the arithmetic below from overflowing.
        if whole.len() > 13 {
            return Err(MoneyError::TooLarge);
        }
        let rupees: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::NotANumber)?
        };
        let mut paise_part: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            paise_part += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
        }
        let paise = rupees * 100 + paise_part;
        if paise == 0 {
            return Err(MoneyError::Zero);
        }
        if paise > MAX_PAISE {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(paise))
    }

    /// Parses the exact source text of a JSON number (as written by the
    /// client, not after a trip through f64), so `0.1` is exactly 10 paise.
    /// JSON allows exponents (`1e2`) and signs; amounts may not use them.
    pub fn parse_json_number(literal: &str) -> Result<Money, MoneyError> {
        let literal = literal.trim();
        if literal.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        if literal.is_empty() || !literal.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(MoneyError::NotANumber);
        }
        Money::parse_rupees(literal)
    }

    /// The amount as rupees with at most two decimals, for the JSON API
    /// (`{balance: 5000.25}`). Exact: every value up to MAX_PAISE has at most
    /// 13 significant digits, so the nearest f64 prints back as this decimal.
    pub fn to_rupees_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// The amount a JSON number of rupees stands for, once it is already a
    /// float (a live event's `amount` and `balance`): rounded to the paisa,
    /// as the API writes [`Money::to_rupees_f64`]. Refused when it is not a
    /// number, beyond [`MAX_PAISE`] either way, or not a whole number of
    /// paise (more than float noise away from one), rather than guessed at.
    pub fn from_rupees_f64(rupees: f64) -> Result<Money, MoneyError> {
        if !rupees.is_finite() {
            return Err(MoneyError::NotANumber);
        }
        let paise = rupees * 100.0;
        let whole = paise.round();
        if whole.abs() > MAX_PAISE as f64 {
            return Err(MoneyError::TooLarge);
        }
        // Every whole paisa up to MAX_PAISE survives the trip through f64 to
        // within a few millionths of a paisa; a third decimal does not.
        if (paise - whole).abs() > 1e-3 {
            return Err(MoneyError::TooPrecise);
        }
        Ok(Money(whole as i64))
    }

    /// Plain rupee text without symbol or grouping, e.g. `1234.50`; what an
    /// amount field is pre-filled with.
    pub fn to_plain_rupees(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// `₹1,23,456.78`: rupees grouped the Indian way (last three digits, then
/// pairs), always two decimals.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let rupees = (abs / 100).to_string();
        let paise = abs % 100;
        let mut grouped = String::with_capacity(rupees.len() + rupees.len() / 2);
        if rupees.len() <= 3 {
            grouped.push_str(&rupees);
        } else {
            let (head, last3) = rupees.split_at(rupees.len() - 3);
            let first = head.len() % 2;
            if first == 1 {
                grouped.push_str(&head[..1]);
            }
            for (i, pair) in head.as_bytes()[first..].chunks(2).enumerate() {
                if i > 0 || first == 1 {
                    grouped.push(',');
                }
                grouped.push_str(std::str::from_utf8(pair).map_err(|_| fmt::Error)?);
            }
            grouped.push(',');
            grouped.push_str(last3);
        }
        write!(f, "{sign}₹{grouped}.{paise:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_amounts() {
        let ok = [
            ("1", 100),
            ("0.1", 10),
            ("0.10", 10),
            ("0.01", 1),
            (".5", 50),
            ("99.99", 9999),
            ("  250 ", 25000),
            ("₹1000", 100000),
            ("₹ 12.5", 1250),
            ("007", 700),
            ("1000000000", MAX_PAISE),
        ];
        for (text, paise) in ok {
            assert_eq!(Money::parse_rupees(text), Ok(Money::from_paise(paise)), "{text:?}");
        }
    }

    #[test]
    fn refuses_bad_amounts_with_a_reason() {
        use MoneyError::*;
        let bad = [
            ("", Empty),
            ("   ", Empty),
            ("0", Zero),
            ("0.00", Zero),
            ("-1", Negative),
            ("-0.5", Negative),
            ("1.001", TooPrecise),
            ("0.105", TooPrecise),
            ("1e3", NotANumber),
            ("1E3", NotANumber),
            ("NaN", NotANumber),
            ("inf", NotANumber),
            ("Infinity", NotANumber),
            ("+5", NotANumber),
            ("1,000", NotANumber),
            ("1.2.3", NotANumber),
            (".", NotANumber),
            ("5.", NotANumber),
            ("0x10", NotANumber),
            ("١٢", NotANumber),
            ("1000000000.01", TooLarge),
            ("99999999999999999999999", TooLarge),
        ];
        for (text, why) in bad {
            assert_eq!(Money::parse_rupees(text), Err(why), "{text:?}");
        }
    }

    #[test]
    fn json_literals_are_parsed_from_their_text() {
        assert_eq!(Money::parse_json_number("0.1"), Ok(Money::from_paise(10)));
        assert_eq!(Money::parse_json_number("5000.25"), Ok(Money::from_paise(500025)));
        assert_eq!(Money::parse_json_number("1e2"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse_json_number("1E-2"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse_json_number("-3"), Err(MoneyError::Negative));
        assert_eq!(Money::parse_json_number("₹3"), Err(MoneyError::NotANumber));
        assert_eq!(
            Money::parse_json_number("0.30000000000000004"),
            Err(MoneyError::TooPrecise)
        );
    }

    #[test]
    fn formats_in_indian_grouping() {
        let cases = [
            (0, "₹0.00"),
            (5, "₹0.05"),
            (100, "₹1.00"),
            (99999, "₹999.99"),
            (100000, "₹1,000.00"),
            (12345678, "₹1,23,456.78"),
            (1234567800, "₹1,23,45,678.00"),
            (12345678900, "₹12,34,56,789.00"),
            (MAX_PAISE, "₹1,00,00,00,000.00"),
            (-12345678, "-₹1,23,456.78"),
        ];
        for (paise, text) in cases {
            assert_eq!(Money::from_paise(paise).to_string(), text);
        }
    }

    #[test]
    fn rupee_views_round_trip() {
        for paise in [1, 10, 99, 500025, 123456789, MAX_PAISE] {
            let m = Money::from_paise(paise);
            assert_eq!(Money::parse_rupees(&m.to_plain_rupees()), Ok(m));
            assert_eq!(Money::parse_json_number(&m.to_rupees_f64().to_string()), Ok(m));
            assert_eq!(Money::from_rupees_f64(m.to_rupees_f64()), Ok(m));
        }
    }

    #[test]
    fn floats_of_rupees_become_whole_paise() {
        assert_eq!(Money::from_rupees_f64(1.5), Ok(Money::from_paise(150)));
        assert_eq!(Money::from_rupees_f64(0.1 + 0.2), Ok(Money::from_paise(30)));
        assert_eq!(Money::from_rupees_f64(0.0), Ok(Money::ZERO));
        assert_eq!(Money::from_rupees_f64(-2.25), Ok(Money::from_paise(-225)));
        assert_eq!(Money::from_rupees_f64(1.005), Err(MoneyError::TooPrecise));
        assert_eq!(Money::from_rupees_f64(f64::NAN), Err(MoneyError::NotANumber));
        assert_eq!(Money::from_rupees_f64(f64::INFINITY), Err(MoneyError::NotANumber));
        assert_eq!(Money::from_rupees_f64(1e9 + 0.01), Err(MoneyError::TooLarge));
        assert_eq!(Money::from_rupees_f64(-1e12), Err(MoneyError::TooLarge));
        // Every paisa of a large range comes back exactly.
        for paise in (0..MAX_PAISE).step_by(9_999_991).chain(MAX_PAISE - 1000..=MAX_PAISE) {
            let m = Money::from_paise(paise);
            assert_eq!(Money::from_rupees_f64(m.to_rupees_f64()), Ok(m), "{paise}");
        }
    }
}
