//! Property tests for the two places untrusted text becomes data: amounts
//! (`Money::parse_rupees`, `Money::parse_json_number`) and request
//! validation (the bank's field checks, the strict JSON extractor, and the
//! REST handlers' request bodies through the real router, in process).
//!
//! Case counts are modest so the file runs in seconds in a debug build;
//! `PROPTEST_CASES=N` raises (or lowers) every property's count.

use crate::common::db::{balance, count, docs, find, set_balance};
use crate::common::http::{has_dollar_key, pct, route};
use crate::common::TestEnv;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, HeaderValue, Request, StatusCode};
use mongodb::bson::{doc, oid::ObjectId};
use paisa::money::{Money, MoneyError, MAX_PAISE};
use paisa::server::bank::validate::{check_password, clean_name, normalize_email};
use paisa::server::http::rest::extract::StrictJson;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// `cases` unless `PROPTEST_CASES` says otherwise; no regression files
/// written into the repository.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ----- money: generators -----------------------------------------------------

/// Every way a person (or a JSON encoder) may write `paise` as rupees:
/// `R.PP`, `R.P` when the last digit is 0, `R` when there are no paise,
/// and `.PP` / `.P` below one rupee.
fn rupee_texts(paise: i64) -> Vec<String> {
    let (rupees, p) = (paise / 100, paise % 100);
    let mut texts = vec![format!("{rupees}.{p:02}")];
    if p % 10 == 0 {
        texts.push(format!("{rupees}.{}", p / 10));
    }
    if p == 0 {
        texts.push(rupees.to_string());
    }
    if rupees == 0 {
        texts.push(format!(".{p:02}"));
        if p % 10 == 0 {
            texts.push(format!(".{}", p / 10));
        }
    }
    texts
}

/// Any amount in range, biased to the edges (1 paisa, whole rupees, the maximum).
fn paise() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 1..=MAX_PAISE,
        2 => 1..=100_000i64,
        1 => (1..=10_000_000i64).prop_map(|r| r * 100),
        1 => (0..=1000i64).prop_map(|d| MAX_PAISE - d),
    ]
}

/// Plain decimal text that parses: digits, optionally a point and 1–2 digits.
fn valid_text() -> impl Strategy<Value = String> {
    paise().prop_flat_map(|p| {
        let texts = rupee_texts(p);
        (0..texts.len()).prop_map(move |i| texts[i].clone())
    })
}

/// Any string, mixed with strings made of the characters amounts are made of,
/// so that parses succeed often enough to check what they yield.
fn amount_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9.₹ ,+eE\\-]{0,16}",
        "[ \\t]{0,2}₹?[ ]{0,2}[0-9]{0,15}(\\.[0-9]{0,4})?[ \\t]{0,2}",
        "\\PC{0,12}",
    ]
}

fn is_canonical_plain(text: &str) -> bool {
    let Some((whole, frac)) = text.split_once('.') else {
        return false;
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && (whole == "0" || !whole.starts_with('0'))
        && frac.len() == 2
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `₹` then rupees grouped the Indian way (last three digits, then pairs,
/// no leading zero), a point and exactly two digits of paise.
fn is_indian_grouped(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('₹') else {
        return false;
    };
    let Some((whole, frac)) = rest.split_once('.') else {
        return false;
    };
    if frac.len() != 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let groups: Vec<&str> = whole.split(',').collect();
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    if !groups.iter().all(|g| digits(g)) || (groups[0].len() > 1 && groups[0].starts_with('0')) {
        return false;
    }
    match groups.as_slice() {
        [only] => only.len() <= 3,
        [first, middle @ .., last] => {
            (1..=2).contains(&first.len()) && middle.iter().all(|g| g.len() == 2) && last.len() == 3
        }
        [] => false,
    }
}

// ----- money: properties ---------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// Every amount, written every usual way, parses back to the same paise
    /// through both parsers; the UI's decorations (₹, spaces, leading zeros)
    /// are accepted by the text parser and refused by the JSON one.
    #[test]
    fn every_amount_round_trips_through_its_texts(p in paise(), pad in "[ \\t]{0,2}", zeros in "0{0,3}") {
        let m = Money::from_paise(p);
        for text in rupee_texts(p) {
            prop_assert_eq!(Money::parse_rupees(&text), Ok(m), "{}", text);
            prop_assert_eq!(Money::parse_json_number(&text), Ok(m), "{}", text);
            let typed = format!("{pad}₹{pad}{zeros}{text}{pad}");
            prop_assert_eq!(Money::parse_rupees(&typed), Ok(m), "{:?}", typed);
            prop_assert_eq!(Money::parse_json_number(&format!("₹{text}")), Err(MoneyError::NotANumber));
        }
        // What the UI pre-fills and what the JSON API answers with.
        let plain = m.to_plain_rupees();
        prop_assert!(is_canonical_plain(&plain), "{}", plain);
        prop_assert_eq!(Money::parse_rupees(&plain), Ok(m));
        let api = serde_json::to_string(&m.to_rupees_f64()).unwrap();
        prop_assert_eq!(Money::parse_json_number(&api), Ok(m), "{}", api);
        prop_assert_eq!(Money::parse_json_number(&m.to_rupees_f64().to_string()), Ok(m));
    }

    /// Display is `₹` + Indian grouping + two decimals, and says the same
    /// amount: without the symbol and commas it parses back; with its commas
    /// (₹1,000.00 and up) the strict parser refuses it rather than guess.
    #[test]
    fn display_is_indian_grouped_and_round_trips(p in paise()) {
        let m = Money::from_paise(p);
        let shown = m.to_string();
        prop_assert!(is_indian_grouped(&shown), "{}", shown);
        prop_assert_eq!(Money::parse_rupees(&shown.replace(',', "")), Ok(m), "{}", shown);
        let direct = Money::parse_rupees(&shown);
        if p < 100_000 {
            prop_assert_eq!(direct, Ok(m), "{}", shown);
        } else {
            prop_assert_eq!(direct, Err(MoneyError::NotANumber), "{}", shown);
        }
        prop_assert_eq!(Money::from_paise(-p).to_string(), format!("-{shown}"));
    }

    /// More than two decimals is refused as over-precise, whatever the digits
    /// (even `1.000`, even with an otherwise too large whole part).
    #[test]
    fn more_than_two_decimals_is_refused(whole in "[0-9]{0,20}", frac in "[0-9]{3,30}") {
        let text = format!("{whole}.{frac}");
        prop_assert_eq!(Money::parse_rupees(&text), Err(MoneyError::TooPrecise), "{}", text);
        prop_assert_eq!(Money::parse_json_number(&text), Err(MoneyError::TooPrecise), "{}", text);
    }

    /// Exponents, a leading `+`, grouping commas and NaN-like words are never
    /// guessed at; a leading `-` is refused as negative.
    #[test]
    fn exponents_signs_and_commas_are_refused(
        text in valid_text(),
        exp in "[eE][+-]?[0-9]{1,4}",
        comma_at in any::<prop::sample::Index>(),
        pad in "[ \\t]{0,2}",
    ) {
        for bad in [format!("{text}{exp}"), format!("+{text}"), format!("{pad}+{text}{pad}")] {
            prop_assert_eq!(Money::parse_rupees(&bad), Err(MoneyError::NotANumber), "{:?}", bad);
            prop_assert_eq!(Money::parse_json_number(&bad), Err(MoneyError::NotANumber), "{:?}", bad);
        }
        let mut with_comma = text.clone();
        with_comma.insert(comma_at.index(text.len() + 1), ',');
        prop_assert_eq!(Money::parse_rupees(&with_comma), Err(MoneyError::NotANumber), "{}", with_comma);
        prop_assert_eq!(Money::parse_json_number(&with_comma), Err(MoneyError::NotANumber), "{}", with_comma);
        for negative in [format!("-{text}"), format!("{pad}-{text}{pad}"), format!("₹-{text}"), format!("-{text}{exp}")] {
            prop_assert_eq!(Money::parse_rupees(&negative), Err(MoneyError::Negative), "{:?}", negative);
        }
        prop_assert_eq!(Money::parse_json_number(&format!("-{text}")), Err(MoneyError::Negative));
    }

    /// Anything that is not a digit or the point, inside the number (so not
    /// trimmed away): whitespace of any kind, letters, other scripts' digits,
    /// NUL, another sign. Always refused as not a number.
    #[test]
    fn a_foreign_character_inside_is_refused(
        text in valid_text().prop_filter("two characters at least", |t| t.len() >= 2),
        at in any::<prop::sample::Index>(),
        c in prop_oneof![
            any::<char>(),
            prop::sample::select(vec![' ', '\t', '\n', '\u{a0}', '\u{2003}', '\u{3000}', '\0', '-', '+', 'e', '_', '١', '₹']),
        ].prop_filter("not a digit or the point", |c| !c.is_ascii_digit() && *c != '.'),
    ) {
        let mut bad = text.clone();
        bad.insert(1 + at.index(text.len() - 1), c);
        prop_assert_eq!(Money::parse_rupees(&bad), Err(MoneyError::NotANumber), "{:?}", bad);
        prop_assert_eq!(Money::parse_json_number(&bad), Err(MoneyError::NotANumber), "{:?}", bad);
    }

    /// Zero in any spelling, and anything over the maximum, are refused with
    /// their own reasons; blank input is "Enter an amount".
    #[test]
    fn zero_too_large_and_blank_are_refused(
        zero in "0{1,6}(\\.0{1,2})?",
        over in (MAX_PAISE + 1)..=i64::MAX,
        digits in "[1-9][0-9]{13,40}",
        blank in "[ \\t\\n\\u{a0}\\u{3000}]{0,4}",
    ) {
        prop_assert_eq!(Money::parse_rupees(&zero), Err(MoneyError::Zero), "{}", zero);
        prop_assert_eq!(Money::parse_json_number(&zero), Err(MoneyError::Zero), "{}", zero);
        for text in rupee_texts(over).into_iter().chain([digits]) {
            prop_assert_eq!(Money::parse_rupees(&text), Err(MoneyError::TooLarge), "{}", text);
            prop_assert_eq!(Money::parse_json_number(&text), Err(MoneyError::TooLarge), "{}", text);
        }
        prop_assert_eq!(Money::parse_rupees(&blank), Err(MoneyError::Empty), "{:?}", blank);
        prop_assert_eq!(Money::parse_rupees(&format!("{blank}₹{blank}")), Err(MoneyError::Empty));
    }

    /// Arbitrary text never panics; whatever is accepted is a positive amount
    /// up to the maximum whose canonical text parses to the same value; the
    /// JSON parser accepts only plain digits and a point, and agrees with the
    /// text parser whenever it accepts.
    #[test]
    fn arbitrary_text_is_refused_or_yields_a_sane_amount(text in amount_like()) {
        let as_text = Money::parse_rupees(&text);
        let as_json = Money::parse_json_number(&text);
        if let Ok(m) = as_text {
            prop_assert!((1..=MAX_PAISE).contains(&m.paise()), "{:?} -> {:?}", text, m);
            let plain = m.to_plain_rupees();
            prop_assert!(is_canonical_plain(&plain));
            prop_assert_eq!(Money::parse_rupees(&plain), Ok(m));
            prop_assert_eq!(Money::parse_json_number(&plain), Ok(m));
        }
        if let Ok(m) = as_json {
            prop_assert_eq!(as_text, Ok(m), "{:?}", text);
            prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.'), "{:?}", text);
        }
        if as_text.is_ok() && text.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            prop_assert_eq!(as_json, as_text, "{:?}", text);
        }
    }
}

// ----- field validation ---------------------------------------------------------------

/// Text that looks like an email, well-formed or not, with odd case and padding.
fn email_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t]{0,2}[A-Za-z0-9._%+\\-@ ]{0,12}@[A-Za-z0-9\\-.@ ]{0,14}[ \\t]{0,2}",
        "\\PC{0,8}@\\PC{0,8}\\.\\PC{0,4}",
        "[a-z]{1,70}@[a-z]{1,200}\\.com",
    ]
}

/// Emails that follow every documented rule, in any case, padded.
fn well_formed_email() -> impl Strategy<Value = (String, String)> {
    let label = "[A-Za-z0-9]([A-Za-z0-9\\-]{0,8}[A-Za-z0-9])?";
    (
        "[A-Za-z0-9._+]{1,30}",
        prop::collection::vec(label, 2..4),
        "[ \\t]{0,2}",
    )
        .prop_map(|(local, labels, pad)| {
            let email = format!("{local}@{}", labels.join("."));
            (format!("{pad}{email}{pad}"), email.to_lowercase())
        })
}

fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t]{0,2}\\PC{0,55}[ \\t]{0,2}",
        "[A-Za-z \\u{0}\\u{7}\\u{7f}\\u{85}\\n\\u{2028}\\u{2029}]{0,60}",
        "é{45,55}",
        // Decomposed letters, a virama, joiners, bidi controls and other
        // invisible characters among letters.
        "[A-Za-z \\u{0301}\\u{0308}\\u{094D}\\u{0915}\\u{00AD}\\u{200B}-\\u{200F}\\u{202A}-\\u{202E}\\u{2060}\\u{2066}-\\u{2069}\\u{FEFF}\\u{3164}]{0,60}",
        "(e\\u{0301}){45,55}",
    ]
}

fn password_like() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..200).prop_map(String::from_iter),
        "\\PC{0,140}",
        "[ ]{0,12}",
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Accepted emails are trimmed, lower-case, at most 254 bytes, without
    /// whitespace or control characters, with one `@`, a local part of 1–64
    /// bytes and a dotted domain whose labels are non-empty and do not start
    /// or end with `-`; normalising again changes nothing.
    #[test]
    fn accepted_emails_have_the_documented_shape(raw in email_like()) {
        if let Ok(email) = normalize_email(&raw) {
            prop_assert_eq!(&email, &raw.trim().to_lowercase());
            prop_assert!(email.len() <= 254);
            prop_assert!(!email.chars().any(|c| c.is_whitespace() || c.is_control()), "{:?}", email);
            prop_assert_eq!(email.matches('@').count(), 1, "{:?}", email);
            let (local, domain) = email.split_once('@').unwrap();
            prop_assert!((1..=64).contains(&local.len()), "{:?}", email);
            prop_assert!(domain.contains('.'), "{:?}", email);
            for label in domain.split('.') {
                prop_assert!(!label.is_empty() && !label.starts_with('-') && !label.ends_with('-'), "{:?}", email);
            }
            prop_assert_eq!(normalize_email(&email).ok(), Some(email.clone()));
            prop_assert_eq!(normalize_email(&format!(" \t{raw}\n ")).ok(), Some(email));
        }
    }

    #[test]
    fn well_formed_emails_are_accepted_lower_cased((typed, expected) in well_formed_email()) {
        prop_assert_eq!(normalize_email(&typed).ok(), Some(expected), "{:?}", typed);
    }

    /// A name is accepted exactly when, trimmed and NFC-normalised, it has
    /// 1 to 50 characters, no control character or line/paragraph
    /// separator (a name is one line) and nothing invisible (a
    /// format character or a blank filler, but for a joiner right after a
    /// virama); the stored name is the normalised text.
    #[test]
    fn names_are_trimmed_1_to_50_characters_without_controls(raw in name_like(), first in any::<bool>()) {
        use unicode_normalization::char::canonical_combining_class;
        use unicode_normalization::UnicodeNormalization;
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        let field = if first { "firstName" } else { "lastName" };
        let normalised: String = raw.trim().nfc().collect();
        let chars: Vec<char> = normalised.chars().collect();
        let hidden = chars.iter().enumerate().any(|(i, &c)| {
            let invisible = c.general_category() == GeneralCategory::Format || crate::names::FILLERS.contains(&c);
            let after_virama = i > 0 && canonical_combining_class(chars[i - 1]) == 9;
            invisible && !(matches!(c, '\u{200C}' | '\u{200D}') && after_virama)
        });
        let ok = !chars.is_empty() && chars.len() <= 50 && !chars.iter().any(|&c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) && !hidden;
        match clean_name(field, &raw) {
            Ok(name) => {
                prop_assert!(ok, "accepted {:?}", raw);
                prop_assert_eq!(name, normalised);
            }
            Err(e) => {
                prop_assert!(!ok, "refused {:?}: {}", raw, e);
                let label = if first { "First name" } else { "Last name" };
                prop_assert!(e.to_string().contains(label), "{}", e);
            }
        }
    }

    /// Passwords: 8 to 128 characters (not bytes), anything else refused;
    /// never trimmed or otherwise judged.
    #[test]
    fn passwords_are_8_to_128_characters(password in password_like()) {
        let n = password.chars().count();
        prop_assert_eq!(check_password(&password).is_ok(), (8..=128).contains(&n), "{} chars", n);
    }
}

// ----- the strict JSON extractor ------------------------------------------------------

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_]{1,8}",
        1 => "\\$[a-z]{0,6}",
        1 => prop::sample::select(vec!["$gt", "$ne", "$where", "$set", "$", "a$", " $gt", "$regex"]).prop_map(String::from),
        1 => "\\PC{0,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop_oneof!["\\PC{0,10}", "\\$[a-z]{1,5}", any::<String>()].prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Content types, and whether each one declares JSON.
const CONTENT_TYPES: &[(Option<&str>, bool)] = &[
    (Some("application/json"), true),
    (Some("application/json; charset=utf-8"), true),
    (Some("Application/JSON"), true),
    (Some(" application/json ;charset=UTF-8"), true),
    (None, false),
    (Some(""), false),
    (Some("text/plain"), false),
    (Some("application/x-www-form-urlencoded"), false),
    (Some("multipart/form-data; boundary=x"), false),
    (Some("application/jsonp"), false),
    (Some("application/json-patch+json"), false),
    (Some("application/ld+json"), false),
    (Some("text/json"), false),
    (Some("application/json, text/plain"), false),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn extract(content_type: Option<&str>, body: Vec<u8>) -> Option<Value> {
    let mut req = Request::builder().method("POST").uri("/");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body)).unwrap();
    runtime()
        .block_on(StrictJson::<Value>::from_request(req, &()))
        .ok()
        .map(|StrictJson(v)| v)
}

proptest! {
    #![proptest_config(config(256))]

    /// A body gets through exactly when it is declared JSON, is JSON, and has
    /// no `$`-key anywhere; then it is read unchanged.
    #[test]
    fn strict_json_admits_only_declared_operator_free_json(
        value in json_value(),
        ct in prop::sample::select(CONTENT_TYPES),
        pretty in any::<bool>(),
    ) {
        let (content_type, declared) = ct;
        let bytes = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.unwrap();
        // (Compared with the bytes read back, not `value`: serde_json reads a
        // few extreme floats one ulp off, which is no concern of ours.)
        let read_back: Value = serde_json::from_slice(&bytes).unwrap();
        let got = extract(content_type, bytes);
        if declared && !has_dollar_key(&value) {
            prop_assert_eq!(got, Some(read_back));
        } else {
            prop_assert_eq!(got, None, "{:?} {}", content_type, value);
        }
    }

    /// Bytes that are not one JSON document are refused, never a panic.
    #[test]
    fn strict_json_refuses_what_is_not_json(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            "\\PC{0,20}".prop_map(String::into_bytes),
            json_value().prop_map(|v| { let mut b = serde_json::to_vec(&v).unwrap(); b.extend_from_slice(b" x"); b }),
            json_value().prop_map(|v| { let b = serde_json::to_vec(&v).unwrap(); b[..b.len() / 2].to_vec() }),
        ],
    ) {
        let parsed = serde_json::from_slice::<Value>(&bytes).ok();
        let got = extract(Some("application/json"), bytes);
        match parsed {
            Some(v) if !has_dollar_key(&v) => prop_assert_eq!(got, Some(v)),
            _ => prop_assert_eq!(got, None),
        }
    }
}

// ----- request bodies through the real router -------------------------------------------
//
// The REST handlers' body types are private, so their deserialisation is
// exercised through `paisa::server::http::router::router` in process (no socket), over a
// real database. Every generated request is invalid; each property checks the
// documented answer and that the database did not change.

struct World {
    env: TestEnv,
    app: axum::Router,
    /// Sender with a zero balance: any valid amount is "Insufficient balance".
    alice: ObjectId,
    alice_token: String,
    bob: ObjectId,
    bob_paise: i64,
    /// Whose profile the PUT property tries to change.
    carol: ObjectId,
    carol_token: String,
    /// Sender (zero balance) for the idempotency-key property.
    dave: ObjectId,
    dave_token: String,
    users: usize,
    /// (id, first, last) of everyone, for the search oracle.
    people: Vec<(String, String, String)>,
    /// Everyone's hint by id: their email's first character and domain.
    hints: std::collections::HashMap<String, String>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        runtime().block_on(async {
            let env = TestEnv::new().await;
            let ids = env
                .users([
                    ("Asha", "Rao"),
                    ("Ravi", "Kumar"),
                    ("Carol", "D'Souza"),
                    ("Dave", "Rao"),
                    ("Rajesh", "Raman"),
                    ("Zoë", "Ünal"),
                    ("Ana", "Maria-Lopez"),
                ])
                .await;
            let (alice, bob, carol, dave) = (ids[0], ids[1], ids[2], ids[3]);
            for id in [alice, dave] {
                set_balance(&env.db, id, 0).await;
            }
            let bob_paise = balance(&env.db, bob).await;
            let people: Vec<_> = docs(&env.db, "users")
                .await
                .iter()
                .map(|u| {
                    (
                        u.get_object_id("_id").unwrap().to_hex(),
                        u.get_str("firstName").unwrap().to_owned(),
                        u.get_str("lastName").unwrap().to_owned(),
                    )
                })
                .collect();
            let hints = docs(&env.db, "users")
                .await
                .iter()
                .map(|u| {
                    let (local, domain) = u.get_str("username").unwrap().split_once('@').unwrap();
                    let first = local.chars().next().unwrap();
                    (u.get_object_id("_id").unwrap().to_hex(), format!("{first}•••@{domain}"))
                })
                .collect();
            World {
                app: paisa::server::http::router::router(env.state.clone()),
                alice_token: env.token(alice).await,
                carol_token: env.token(carol).await,
                dave_token: env.token(dave).await,
                users: people.len(),
                people,
                hints,
                alice,
                bob,
                bob_paise,
                carol,
                dave,
                env,
            }
        })
    })
}

/// Amount literals, as raw JSON text: numbers of every shape (fine, too
/// precise, exponent, negative, huge, leading zeros), other JSON types, and
/// text that is not JSON at all. None contains `,` `:` `"` `{` or `}`
/// unless it is itself a complete JSON value, so the body's shape is kept.
fn amount_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "(0|[1-9][0-9]{0,12})(\\.[0-9]{1,4})?",
        1 => "-?[0-9]{1,3}(\\.[0-9]{1,3})?[eE][+-]?[0-9]{1,3}",
        1 => "-(0|[1-9][0-9]{0,5})(\\.[0-9]{1,3})?",
        1 => "0[0-9]{1,3}",
        1 => "[1-9][0-9]{12,30}(\\.[0-9]{1,2})?",
        1 => prop::sample::select(vec![
            "null", "true", "false", "[]", "[1]", "{}", r#"{"$gt":0}"#, r#"{"value":1}"#, "NaN", "Infinity",
            "-Infinity", "-0", "-0.0", "1e400", ".5", "5.", "+1", "0x10", "1_000", "", "1 2", "[1", "0.30000000000000004",
        ]).prop_map(String::from),
        1 => "\\PC{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => "[0-9a-zA-Z.+\\-\\[\\] ]{0,10}",
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// POST /account/transfer with a valid token and recipient: the server's
    /// verdict on the amount is `Money::parse_json_number` of its exact JSON
    /// text (an accepted amount meets the sender's zero balance), bodies that
    /// are not JSON or carry `$`-keys are "Invalid request", all 400, and no
    /// money moves.
    #[test]
    fn transfer_amounts_are_judged_on_their_exact_text(lit in amount_literal()) {
        let w = world();
        let body = format!(r#"{{"to":"{}","amount":{lit}}}"#, w.bob.to_hex());
        let (status, reply) = runtime().block_on(route(&w.app, "POST", "/api/v1/account/transfer", Some(&w.alice_token), vec![], Some(body.clone().into_bytes())));
        let expected = match serde_json::from_str::<Value>(&body) {
            Err(_) => json!({"message": "Invalid request"}),
            Ok(v) if has_dollar_key(&v) => json!({"message": "Invalid request"}),
            Ok(_) => match Money::parse_json_number(&lit) {
                Err(why) => json!({"message": "Invalid amount", "reason": why.to_string()}),
                Ok(_) => json!({"message": "Insufficient balance"}),
            },
        };
        prop_assert_eq!((status, reply), (StatusCode::BAD_REQUEST, expected), "{}", body);
        let (a, b, t) = runtime().block_on(async {
            (balance(&w.env.db, w.alice).await, balance(&w.env.db, w.bob).await, count(&w.env.db, "transfers", doc! { "kind": "transfer" }).await)
        });
        prop_assert_eq!((a, b, t), (0, w.bob_paise, 0), "money moved after {}", body);
    }

    /// The Idempotency-Key header: 1 to 128 printable ASCII characters, or
    /// the transfer is refused before anything is stored; a good key stores
    /// the first outcome (here, insufficient balance) under that key.
    #[test]
    fn idempotency_keys_are_1_to_128_printable_ascii(
        key in prop_oneof![
            "[!-~]{1,128}".prop_map(String::into_bytes),
            "[ -~\\t]{0,140}".prop_map(String::into_bytes),
            "[!-~]{129,160}".prop_map(String::into_bytes),
            prop::collection::vec(prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff, Just(b'\t')], 0..40),
        ],
    ) {
        let w = world();
        let value = HeaderValue::from_bytes(&key).unwrap();
        let body = format!(r#"{{"to":"{}","amount":1}}"#, w.bob.to_hex());
        let (status, reply) = runtime().block_on(route(
            &w.app, "POST", "/api/v1/account/transfer", Some(&w.dave_token),
            vec![("idempotency-key", value)], Some(body.into_bytes()),
        ));
        let text = std::str::from_utf8(&key).ok();
        let valid = (1..=128).contains(&key.len()) && key.iter().all(|b| (0x21..=0x7e).contains(b));
        let expected = if valid {
            "Insufficient balance"
        } else if text.is_some_and(str::is_ascii) {
            "Idempotency key must be 1 to 128 printable characters"
        } else {
            "Invalid Idempotency-Key"
        };
        prop_assert_eq!((status, reply), (StatusCode::BAD_REQUEST, json!({"message": expected})), "{:?}", key);
        let stored = runtime().block_on(count(&w.env.db, "idempotencyKeys", doc! {"from": w.dave, "key": text.unwrap_or_default()}));
        prop_assert_eq!(stored, u64::from(valid), "{:?}", key);
        prop_assert_eq!(runtime().block_on(balance(&w.env.db, w.dave)), 0);
    }
}

/// A field of a generated body: absent, or any JSON value, or a string of
/// the given kind.
fn field(text: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => json_value().prop_map(Some),
        5 => text.prop_map(|s| Some(Value::String(s))),
    ]
}

fn extra_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec((json_key(), json_value()), 0..3)
}

/// The body as an object: the named fields that are present, then the extras
/// (never under a named field's key, present or not).
fn object(fields: &[(&str, &Option<Value>)], extras: &[(String, Value)]) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in fields {
        if let Some(v) = value {
            map.insert((*name).to_owned(), v.clone());
        }
    }
    for (k, v) in extras {
        if !fields.iter().any(|(name, _)| name == k) {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(map)
}

fn valid_string(value: &Option<Value>, check: impl Fn(&str) -> bool) -> bool {
    matches!(value, Some(Value::String(s)) if check(s))
}

proptest! {
    #![proptest_config(config(64))]

    /// POST /user/signup with at least one missing, mistyped or invalid field
    /// (or a `$`-key): 411 with the documented message, and no user created.
    #[test]
    fn invalid_signups_get_411_and_create_nothing(
        username in field(prop_oneof![email_like(), well_formed_email().prop_map(|(_, e)| e)]),
        first in field(name_like()),
        last in field(name_like()),
        password in field(password_like()),
        extras in extra_fields(),
    ) {
        let body = object(&[("username", &username), ("firstName", &first), ("lastName", &last), ("password", &password)], &extras);
        let valid = valid_string(&username, |s| normalize_email(s).is_ok())
            && valid_string(&first, |s| clean_name("firstName", s).is_ok())
            && valid_string(&last, |s| clean_name("lastName", s).is_ok())
            && valid_string(&password, |s| check_password(s).is_ok())
            && !has_dollar_key(&body);
        prop_assume!(!valid);
        let w = world();
        let (status, reply) = runtime().block_on(route(&w.app, "POST", "/api/v1/user/signup", None, vec![], Some(body.to_string().into_bytes())));
        prop_assert_eq!(
            (status, reply),
            (StatusCode::LENGTH_REQUIRED, json!({"message": "Email already taken / Incorrect inputs"})),
            "{}", body
        );
        prop_assert_eq!(runtime().block_on(count(&w.env.db, "users", doc! {})), w.users as u64);
        prop_assert_eq!(runtime().block_on(count(&w.env.db, "accounts", doc! { "userId": { "$ne": paisa::server::bank::journal::ISSUER } })), w.users as u64);
    }

    /// PUT /user with nothing to change, or any present field mistyped or
    /// invalid (or a `$`-key): 411 with the documented message, and the user
    /// document is exactly as it was.
    #[test]
    fn invalid_profile_updates_get_411_and_change_nothing(
        first in field(name_like()),
        last in field(name_like()),
        password in field(password_like()),
        extras in extra_fields(),
    ) {
        let body = object(&[("firstName", &first), ("lastName", &last), ("password", &password)], &extras);
        // Absent and null leave a field as it is; a string must be valid; anything else is a type error.
        let fine = |v: &Option<Value>, check: &dyn Fn(&str) -> bool| match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => check(s),
            Some(_) => false,
        };
        let given = [&first, &last, &password].iter().any(|v| matches!(v, Some(Value::String(_))));
        let valid = given
            && fine(&first, &|s| clean_name("firstName", s).is_ok())
            && fine(&last, &|s| clean_name("lastName", s).is_ok())
            && fine(&password, &|s| check_password(s).is_ok())
            && !has_dollar_key(&body);
        prop_assume!(!valid);
        let w = world();
        let before = runtime().block_on(find(&w.env.db, "users", doc! {"_id": w.carol}));
        let (status, reply) = runtime().block_on(route(&w.app, "PUT", "/api/v1/user", Some(&w.carol_token), vec![], Some(body.to_string().into_bytes())));
        prop_assert_eq!(
            (status, reply),
            (StatusCode::LENGTH_REQUIRED, json!({"message": "Error while updating information"})),
            "{}", body
        );
        let after = runtime().block_on(find(&w.env.db, "users", doc! {"_id": w.carol}));
        prop_assert_eq!(before, after, "{}", body);
    }

    /// GET /user/bulk?filter=: the filter is literal text. The answer is 200
    /// with exactly the other users whose "first last" or last name starts
    /// with it, ignoring case (and leading spaces), sorted by name; regex
    /// syntax, operators and odd unicode match nothing unless a name starts
    /// with that very text.
    #[test]
    fn search_filters_are_literal_case_insensitive_prefixes(
        filter in prop_oneof![
            // A prefix of someone's name in random case.
            (0..7usize, 0..14usize, any::<u64>()).prop_map(|(who, len, case)| {
                let w = world();
                let (_, first, last) = &w.people[who % w.people.len()];
                let full = if case % 3 == 0 { last.clone() } else { format!("{first} {last}") };
                full.chars().take(len).enumerate()
                    .map(|(i, c)| if (case >> (i % 64)) & 1 == 1 { c.to_uppercase().collect::<String>() } else { c.to_string() })
                    .collect()
            }),
            prop::sample::select(vec![".*", "^", "\\", "$", "(", "[a-z]", "R.", "r*", "{\"$gt\":\"\"}", "$ne", "\0", "a\0b", "%", "+", " ", "  r", "ra ", "ZOË", "ünal", "d'", "\u{10FFFF}"]).prop_map(String::from),
            any::<String>(),
            "\\PC{100,130}",
        ],
    ) {
        let w = world();
        let uri = format!("/api/v1/user/bulk?filter={}", pct(&filter));
        let (status, reply) = runtime().block_on(route(&w.app, "GET", &uri, Some(&w.alice_token), vec![], None));
        let prefix = filter.trim_start().chars().take(101).collect::<String>().to_lowercase();
        let mut expected: Vec<(String, String, String)> = w.people.iter()
            .filter(|(id, first, last)| {
                let full = format!("{} {}", first.to_lowercase(), last.to_lowercase());
                *id != w.alice.to_hex() && (full.starts_with(&prefix) || last.to_lowercase().starts_with(&prefix))
            })
            .cloned()
            .collect();
        expected.sort_by_key(|(id, first, last)| (format!("{} {}", first.to_lowercase(), last.to_lowercase()), id.clone()));
        let expected: Vec<Value> = expected.into_iter()
            .map(|(id, first, last)| json!({"_id": id, "firstName": first, "lastName": last, "hint": w.hints[&id]}))
            .collect();
        prop_assert_eq!((status, reply), (StatusCode::OK, json!({"users": expected})), "{:?}", filter);
    }

    /// GET /account/transactions?limit=&before=: 200 exactly when `limit`
    /// (if given) is a whole number from 1 to 100 and `before` (if given) is
    /// empty or an ObjectId; otherwise 400 "Invalid query". Never a 5xx.
    #[test]
    fn history_queries_are_validated(
        limit in prop::option::of(prop_oneof![
            (0..=150u32).prop_map(|n| n.to_string()),
            "0{1,3}[1-9]{1,2}",
            "-[0-9]{1,3}",
            "[0-9]{19,25}",
            prop::sample::select(vec!["", " 5", "5 ", "1e2", "abc", "5.0", "+5", "NaN", "{\"$gt\":0}", "\0"]).prop_map(String::from),
            "\\PC{0,6}",
        ]),
        before in prop::option::of(prop_oneof![
            Just(String::new()),
            "[0-9a-fA-F]{24}",
            "[0-9a-f]{22,26}",
            prop::sample::select(vec!["zzz", "{\"$lt\":\"\"}", "\0", "000000000000000000000000", "ffffffffffffffffffffffff"]).prop_map(String::from),
            "\\PC{0,30}",
        ]),
    ) {
        let w = world();
        let mut query = Vec::new();
        if let Some(l) = &limit {
            query.push(format!("limit={}", pct(l)));
        }
        if let Some(b) = &before {
            query.push(format!("before={}", pct(b)));
        }
        let uri = format!("/api/v1/account/transactions?{}", query.join("&"));
        let (status, reply) = runtime().block_on(route(&w.app, "GET", &uri, Some(&w.alice_token), vec![], None));
        let limit_ok = limit.as_deref().is_none_or(|l| l.parse::<usize>().is_ok_and(|n| (1..=100).contains(&n)));
        let before_ok = before.as_deref().is_none_or(|b| b.is_empty() || (b.len() == 24 && b.bytes().all(|c| c.is_ascii_hexdigit())));
        if limit_ok && before_ok {
            // Alice has moved no money: her history is her welcome grant
            // and the opening entry of the balance the world gave her.
            prop_assert_eq!(status, StatusCode::OK, "{}", uri);
            let kinds: Vec<&str> = reply["transactions"].as_array().unwrap().iter().filter_map(|t| t["kind"].as_str()).collect();
            prop_assert!(kinds.iter().all(|k| *k == "grant" || *k == "opening"), "{:?} for {}", kinds, uri);
        } else {
            prop_assert_eq!((status, reply), (StatusCode::BAD_REQUEST, json!({"message": "Invalid query"})), "{}", uri);
        }
    }
}
