//! Checks on what users type, before anything reaches the database: each
//! refusal carries the message the user sees and the field it belongs to.

use crate::limits::{EMAIL_BYTES, NAME_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};
use crate::money::{Money, MoneyError, MAX_PAISE};
use crate::server::bank::error::BankError;

/// Trimmed, lower-cased, and shaped like an address: one `@`, a dotted
/// domain, no spaces. (Whether it receives mail is not ours to check.)
pub fn normalize_email(raw: &str) -> Result<String, BankError> {
    let email = raw.trim().to_lowercase();
    let bad = || BankError::invalid("username", "Enter a valid email address");
    if email.len() > EMAIL_BYTES || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
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

/// Trimmed, NFC-normalised, 1 to 50 characters (counted after
/// normalising), and nothing that would make one name look like another:
/// no control characters, no bidirectional overrides, isolates or marks,
/// no invisible formatting ([`is_invisible`]).
pub fn clean_name(field: &'static str, raw: &str) -> Result<String, BankError> {
    use unicode_normalization::UnicodeNormalization;
    let name: String = raw.trim().nfc().collect();
    let label = if field == "firstName" {
        "First name"
    } else {
        "Last name"
    };
    if name.is_empty() {
        return Err(BankError::invalid(field, format!("{label} is required")));
    }
    if name.chars().count() > NAME_CHARS {
        return Err(BankError::invalid(
            field,
            format!("{label} must be at most {NAME_CHARS} characters"),
        ));
    }
    let mut previous = None;
    for c in name.chars() {
        if breaks_the_line(c) || (is_invisible(c) && !joins_after_virama(c, previous)) {
            return Err(BankError::invalid(
                field,
                format!("{label} contains invalid characters"),
            ));
        }
        previous = Some(c);
    }
    Ok(name)
}

/// Controls (tab, newline among them) and the Unicode line and paragraph
/// separators: names and notes are one line wherever they are shown (a
/// JSON string, a CSV cell, a log line).
fn breaks_the_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that show nothing themselves but change how the text around
/// them reads: every format character (general category Cf, as of Unicode
/// 18; bidirectional overrides, isolates and marks among them), and the
/// fillers that render as blank (Hangul fillers, the combining grapheme
/// joiner, the blank Braille pattern). Two names differing only in these
/// look the same.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{0600}'..='\u{0605}' // Arabic number signs
            | '\u{061C}' // Arabic letter mark
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}' // Hangul choseong and jungseong fillers
            | '\u{180E}' // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}' // bidi isolates, deprecated format characters
            | '\u{2800}' // Braille pattern blank
            | '\u{3164}' // Hangul filler
            | '\u{FEFF}' // zero-width no-break space (byte order mark)
            | '\u{FFA0}' // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}' // Egyptian hieroglyph format controls
            | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
            | '\u{1D173}'..='\u{1D17A}' // musical symbol format controls
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}' // tags
    )
}

/// The one place a zero-width joiner or non-joiner is part of how a name
/// is written: right after a virama, choosing a half form or an explicit
/// virama in Indic scripts (IDNA's CONTEXTJ rule, RFC 5892 appendix A.1 and
/// A.2). There it changes what the name looks like, so it cannot hide.
fn joins_after_virama(c: char, previous: Option<char>) -> bool {
    use unicode_normalization::char::canonical_combining_class;
    matches!(c, '\u{200C}' | '\u{200D}') && previous.is_some_and(|p| canonical_combining_class(p) == 9)
}

pub use crate::limits::NOTE_CHARS;

/// A note on a payment ("rent", "🍕 Friday"): trimmed, NFC-normalised, at
/// most [`NOTE_CHARS`] characters; one line, and nothing invisible that
/// could make it read as something else (as for names), except the
/// zero-width joiner inside an emoji sequence (👩‍👩‍👧). Blank is no note.
pub fn note(raw: Option<&str>) -> Result<Option<String>, BankError> {
    use unicode_normalization::UnicodeNormalization;
    let Some(raw) = raw else { return Ok(None) };
    let note: String = raw.trim().nfc().collect();
    if note.is_empty() {
        return Ok(None);
    }
    if note.chars().count() > NOTE_CHARS {
        return Err(BankError::invalid(
            "note",
            format!("Note must be at most {NOTE_CHARS} characters"),
        ));
    }
    let mut previous = None;
    for c in note.chars() {
        let joins = joins_after_virama(c, previous) || (c == '\u{200D}' && previous.is_some_and(is_emoji_part));
        if breaks_the_line(c) || (is_invisible(c) && !joins) {
            return Err(BankError::invalid("note", "Note contains invalid characters"));
        }
        previous = Some(c);
    }
    Ok(Some(note))
}

/// Characters an emoji ZWJ sequence joins after: pictographs, their
/// skin-tone modifiers and the emoji presentation selector.
fn is_emoji_part(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{FE0F}' | '\u{1F000}'..='\u{1FAFF}')
}

/// 8 to 128 characters (NIST 800-63B: length, not composition rules).
pub fn check_password(password: &str) -> Result<(), BankError> {
    match password.chars().count() {
        n if n < PASSWORD_MIN_CHARS => Err(BankError::invalid(
            "password",
            format!("Password must be at least {PASSWORD_MIN_CHARS} characters"),
        )),
        n if n > PASSWORD_MAX_CHARS => Err(BankError::invalid(
            "password",
            format!("Password must be at most {PASSWORD_MAX_CHARS} characters"),
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
    fn names_and_notes_are_one_line() {
        for separator in ['\u{2028}', '\u{2029}', '\n', '\t'] {
            let text = format!("Asha{separator}Rao");
            assert!(clean_name("firstName", &text).is_err(), "{separator:?} in a name");
            assert!(note(Some(&text)).is_err(), "{separator:?} in a note");
        }
    }

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

    fn refusal(field: &'static str, raw: &str) -> String {
        match clean_name(field, raw) {
            Err(BankError::Invalid { field: f, message }) if f == field => message,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn notes_are_one_visible_line_of_at_most_140_characters() {
        assert_eq!(note(None).unwrap(), None);
        assert_eq!(note(Some("  ")).unwrap(), None);
        assert_eq!(note(Some(" rent ")).unwrap().as_deref(), Some("rent"));
        assert_eq!(note(Some(&"é".repeat(140))).unwrap().unwrap().chars().count(), 140);
        let family = "👩\u{200D}👩\u{200D}👧 dinner";
        assert_eq!(note(Some(family)).unwrap().as_deref(), Some(family));
        assert_eq!(
            note(Some("❤\u{FE0F}\u{200D}🔥")).unwrap().as_deref(),
            Some("❤\u{FE0F}\u{200D}🔥")
        );
        let too_long = note(Some(&"x".repeat(141))).unwrap_err();
        assert!(too_long.to_string().contains("at most 140"), "{too_long}");
        for bad in [
            "a\nb",
            "a\u{0}b",
            "pay\u{202E}lanoitan",
            "a\u{200B}b",
            "a\u{200D}b",
            "\u{2066}x",
        ] {
            assert!(note(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_with_bidi_controls_are_refused() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', // embeddings, overrides
            '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', // isolates
            '\u{200E}', '\u{200F}', '\u{061C}', // marks
        ] {
            let name = format!("Asha{c}Rao");
            assert_eq!(refusal("firstName", &name), "First name contains invalid characters");
            assert_eq!(
                refusal("lastName", &format!("{c}oaR")),
                "Last name contains invalid characters"
            );
        }
        // "Rao" that displays as "oaR" and the like: refused wherever it is.
        assert!(clean_name("lastName", "\u{202E}oaR\u{202C}").is_err());
    }

    #[test]
    fn names_with_invisible_characters_are_refused() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{034F}',
            '\u{3164}',
            '\u{115F}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{E0041}',
            '\u{1BCA0}',
        ] {
            assert!(is_invisible(c), "{:04X}", c as u32);
            assert_eq!(
                refusal("firstName", &format!("As{c}ha")),
                "First name contains invalid characters",
                "U+{:04X}",
                c as u32
            );
            // Alone, or at the edges (trimming keeps them: they are not spaces).
            assert_eq!(
                refusal("lastName", &c.to_string()),
                "Last name contains invalid characters"
            );
            assert_eq!(
                refusal("lastName", &format!(" Rao{c} ")),
                "Last name contains invalid characters"
            );
        }
        // Visible letters, marks and spaces are not caught.
        for c in ['a', 'é', '\u{0301}', ' ', '-', '\'', 'अ', '\u{094D}', '中'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn a_joiner_after_a_virama_is_part_of_the_name() {
        // A half form (virama + ZWJ, as in the eyelash ra) and an explicit
        // virama (virama + ZWNJ), as IDNA allows them; anywhere else the
        // joiners are refused.
        assert_eq!(clean_name("firstName", "सूर्\u{200D}या").unwrap(), "सूर्\u{200D}या");
        assert!(clean_name("firstName", "क्\u{200C}ष").is_ok());
        assert!(clean_name("firstName", "क\u{200D}ष").is_err());
        assert!(clean_name("firstName", "\u{200D}Asha").is_err());
        assert!(clean_name("firstName", "Asha\u{200C}").is_err());
    }

    #[test]
    fn names_are_nfc_normalised_and_counted_after() {
        // "é" as e + combining acute and as one character: the same name.
        assert_eq!(clean_name("firstName", "Rene\u{0301}e").unwrap(), "Ren\u{00E9}e");
        assert_eq!(
            clean_name("firstName", "Rene\u{0301}e").unwrap(),
            clean_name("firstName", "Ren\u{00E9}e").unwrap()
        );
        // Hangul jamo compose into a syllable.
        assert_eq!(clean_name("lastName", "\u{1100}\u{1161}").unwrap(), "\u{AC00}");
        // 100 characters that normalise to 50: accepted; 51 after: refused.
        let decomposed = "e\u{0301}".repeat(50);
        assert_eq!(decomposed.chars().count(), 100);
        let name = clean_name("lastName", &decomposed).unwrap();
        assert_eq!(name, "\u{00E9}".repeat(50));
        assert_eq!(
            refusal("lastName", &"e\u{0301}".repeat(51)),
            "Last name must be at most 50 characters"
        );
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
