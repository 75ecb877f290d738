//! Names that cannot pass for someone else's: bidirectional controls and
//! invisible characters are refused wherever a name is set (sign-up by the
//! bank, the JSON API and the form; a profile update), names are stored
//! NFC-normalised, and people of the same name are told apart by a masked
//! email (`hint`) that never shows the email itself.

use crate::common::db::{count, find};
use crate::common::http::{client, submit_form, Api};
use crate::common::{seed, TestEnv, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId};
use paisa::model::UserSummary;
use paisa::server::bank::error::BankError;
use paisa::server::bank::validate::is_invisible;
use paisa::server::bank::{ProfileUpdate, SignUp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// What a name may not hide: bidi overrides, embeddings, isolates and marks,
/// zero-width and other invisible characters, a blank filler.
const HIDDEN: [char; 20] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
    '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}',
    '\u{180E}', '\u{3164}',
];

/// Names with one hidden character: in the middle, at the end (after
/// trimming: they are not spaces), and a "Rao" that displays reversed.
fn disguised(c: char) -> [String; 3] {
    [format!("As{c}ha"), format!(" Asha{c} "), format!("{c}oaR")]
}

fn sign_up(email: &str, first: &str, last: &str) -> SignUp {
    SignUp {
        username: email.into(),
        first_name: first.into(),
        last_name: last.into(),
        password: PASSWORD.into(),
    }
}

/// Imports a user with the given email; returns their id.
async fn user_with_email(env: &TestEnv, email: &str, first: &str, last: &str) -> ObjectId {
    env.bank().import(&[seed(email.into(), first, last)]).await.unwrap()[0]
}

/// The hint never gives the email away: not whole, and no more of the part
/// before the `@` than its first character.
fn assert_masks(hint: &str, email: &str) {
    let (local, domain) = email.split_once('@').unwrap();
    let first: String = local.chars().take(1).collect();
    assert_eq!(hint, format!("{first}•••@{domain}"), "hint of {email}");
    assert!(!hint.contains(email), "{hint} shows {email}");
    if local.chars().count() > 1 {
        assert!(!hint.contains(local), "{hint} shows {local}");
    }
}

/// Blank, though not format characters: the combining grapheme joiner, the
/// Hangul fillers and the blank Braille pattern.
pub const FILLERS: [char; 6] = ['\u{034F}', '\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

#[test]
fn every_format_character_and_blank_filler_is_invisible() {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        let expected = c.general_category() == GeneralCategory::Format || FILLERS.contains(&c);
        assert_eq!(is_invisible(c), expected, "U+{:04X}", c as u32);
    }
}

#[tokio::test]
async fn sign_up_refuses_hidden_characters_in_either_name() {
    let env = TestEnv::new().await;
    for c in HIDDEN {
        for name in disguised(c) {
            let first = env.bank().sign_up(sign_up("asha@example.com", &name, "Rao")).await;
            assert!(
                matches!(&first, Err(BankError::Invalid { field: "firstName", message })
                    if message == "First name contains invalid characters"),
                "{name:?}: {first:?}"
            );
            let last = env.bank().sign_up(sign_up("asha@example.com", "Asha", &name)).await;
            assert!(
                matches!(&last, Err(BankError::Invalid { field: "lastName", message })
                    if message == "Last name contains invalid characters"),
                "{name:?}: {last:?}"
            );
        }
    }
    assert_eq!(count(&env.db, "users", doc! {}).await, 0);
    // An import (a seed, a migration) is held to the same rule.
    let import = env
        .bank()
        .import(&[seed("asha@example.com".into(), "Asha\u{202E}", "Rao")])
        .await;
    assert!(matches!(import, Err(BankError::Invalid { .. })), "{import:?}");
    assert_eq!(count(&env.db, "users", doc! {}).await, 0);
}

#[tokio::test]
async fn api_sign_up_with_hidden_characters_is_411() {
    let env = TestEnv::new().await;
    let api = Api::new(&env).await;
    // Each character once (sign-ups from one address are rate limited),
    // in either name and each position.
    for (i, c) in HIDDEN.into_iter().enumerate() {
        let name = disguised(c)[i % 3].clone();
        let body = if i % 2 == 0 {
            json!({"username": "asha@example.com", "firstName": name, "lastName": "Rao", "password": PASSWORD})
        } else {
            json!({"username": "asha@example.com", "firstName": "Asha", "lastName": name, "password": PASSWORD})
        };
        let res = api.call(Method::POST, "/user/signup", None, Some(body.clone())).await;
        assert_eq!(res.status(), StatusCode::LENGTH_REQUIRED, "{body}");
        let reply: Value = res.json().await.unwrap();
        assert_eq!(
            reply,
            json!({"message": "Email already taken / Incorrect inputs"}),
            "{body}"
        );
    }
    assert_eq!(count(&env.db, "users", doc! {}).await, 0);
}

#[tokio::test]
async fn the_sign_up_form_says_which_name_is_wrong() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let http = client();
    let res = submit_form(
        &http,
        &base,
        "/signup",
        "/api/sign_up",
        &[
            ("first_name", "Asha"),
            ("last_name", "\u{202E}oaR"),
            ("username", "asha@example.com"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert!(res.headers().get("set-cookie").is_none());
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    let html = http.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Last name contains invalid characters"),
        "message missing"
    );
    assert_eq!(count(&env.db, "users", doc! {}).await, 0);
}

#[tokio::test]
async fn profile_updates_refuse_hidden_characters() {
    let env = TestEnv::new().await;
    let id = user_with_email(&env, "asha@example.com", "Asha", "Rao").await;
    for c in HIDDEN {
        for name in disguised(c) {
            let first = ProfileUpdate {
                first_name: Some(name.clone()),
                ..Default::default()
            };
            let last = ProfileUpdate {
                last_name: Some(name.clone()),
                ..Default::default()
            };
            for (update, field) in [(first, "firstName"), (last, "lastName")] {
                let result = env.bank().update_profile(id, update).await;
                assert!(
                    matches!(&result, Err(BankError::Invalid { field: f, message })
                        if *f == field && message.ends_with("name contains invalid characters")),
                    "{name:?}: {result:?}"
                );
            }
        }
    }
    // And over the API: 411, nothing changed.
    let api = Api::new(&env).await;
    let token = env.token(id).await;
    for body in [
        json!({"firstName": "Asha\u{200B}"}),
        json!({"lastName": "\u{2067}Rao\u{2069}"}),
        json!({"firstName": "Ravi", "lastName": "Rao\u{FEFF}"}),
    ] {
        let res = api.call(Method::PUT, "/user", Some(&token), Some(body.clone())).await;
        assert_eq!(res.status(), StatusCode::LENGTH_REQUIRED, "{body}");
        let reply: Value = res.json().await.unwrap();
        assert_eq!(reply, json!({"message": "Error while updating information"}), "{body}");
    }
    let user = find(&env.db, "users", doc! { "_id": id }).await.unwrap();
    assert_eq!(
        (user.get_str("firstName").unwrap(), user.get_str("lastName").unwrap()),
        ("Asha", "Rao")
    );
    assert_eq!(user.get_str("nameKey").unwrap(), "asha rao");
}

#[tokio::test]
async fn names_are_stored_nfc_and_found_however_they_were_typed() {
    let env = TestEnv::new().await;
    // "Renée Zöe" typed with combining accents (e + U+0301, o + U+0308).
    let id = env
        .bank()
        .sign_up(sign_up("renee@example.com", "Rene\u{0301}e", "Zo\u{0308}e"))
        .await
        .unwrap();
    let user = find(&env.db, "users", doc! { "_id": id }).await.unwrap();
    assert_eq!(user.get_str("firstName").unwrap(), "Ren\u{00E9}e");
    assert_eq!(user.get_str("lastName").unwrap(), "Z\u{00F6}e");
    assert_eq!(user.get_str("nameKey").unwrap(), "ren\u{00E9}e z\u{00F6}e");
    let other = env.user("Ravi", "Kumar").await;
    let found = env.bank().search(other, "REN\u{00C9}E", 20).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].first_name, "Ren\u{00E9}e");
    // A profile update normalises too; 50 decomposed letters are 50 after.
    let update = ProfileUpdate {
        last_name: Some("e\u{0301}".repeat(50)),
        ..Default::default()
    };
    env.bank().update_profile(id, update).await.unwrap();
    let me = env.bank().me(id).await.unwrap();
    assert_eq!(me.last_name, "\u{00E9}".repeat(50));
}

#[tokio::test]
async fn two_people_of_the_same_name_are_told_apart_by_their_hints() {
    let env = TestEnv::new().await;
    let emails = ["asha.rao@example.com", "rao.asha@paisa.example.in"];
    let one = user_with_email(&env, emails[0], "Asha", "Rao").await;
    let two = user_with_email(&env, emails[1], "Asha", "Rao").await;
    let me = user_with_email(&env, "ravi@example.com", "Ravi", "Kumar").await;
    let hint_of = |found: &[UserSummary], id: ObjectId| {
        found
            .iter()
            .find(|u| u.id == id.to_hex())
            .map(|u| u.hint.clone())
            .unwrap_or_else(|| panic!("{id} not found in {found:?}"))
    };

    // The bank's search: both, same name, different hints.
    let found = env.bank().search(me, "asha rao", 20).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|u| u.full_name() == "Asha Rao"));
    let hints = [hint_of(&found, one), hint_of(&found, two)];
    assert_ne!(hints[0], hints[1]);
    assert_masks(&hints[0], emails[0]);
    assert_masks(&hints[1], emails[1]);

    // The Send Money dialog's recipient.
    assert_eq!(env.bank().user(&two.to_hex()).await.unwrap().hint, hints[1]);

    // The JSON API: GET /user/bulk.
    let api = Api::new(&env).await;
    let token = env.token(me).await;
    let res = api
        .call(Method::GET, "/user/bulk?filter=Asha", Some(&token), None)
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let users: Vec<UserSummary> = serde_json::from_value(body["users"].clone()).unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!([hint_of(&users, one), hint_of(&users, two)], hints);
    for email in emails {
        assert!(!body.to_string().contains(email), "{body} shows {email}");
    }

    // The ledger: the counterparty carries the hint, in the API and the bank.
    crate::common::db::set_balance(&env.db, me, 10_000).await;
    let res = api
        .call(
            Method::POST,
            "/account/transfer",
            Some(&token),
            Some(json!({"to": two.to_hex(), "amount": 1})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = api
        .call(Method::GET, "/account/transactions?limit=1", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["transactions"][0]["counterparty"],
        json!({"_id": two.to_hex(), "firstName": "Asha", "lastName": "Rao", "hint": hints[1]})
    );
    let history = env.bank().history(two, 20, None).await.unwrap();
    let from = history.entries[0].counterparty.as_ref().unwrap();
    assert_masks(&from.hint, "ravi@example.com");

    // The dashboard shows each hint under the name, and the Send Money
    // link's accessible name carries it.
    let base = env.serve().await;
    let html = client()
        .get(format!("{base}/dashboard?filter=asha"))
        .header("cookie", format!("paisa_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches(r#"data-testid="hint""#).count(), 2);
    for hint in &hints {
        assert!(html.contains(&format!(">{hint}</p>")), "{hint} not shown");
        assert!(
            html.contains(&format!("Send money to Asha Rao, {hint}")),
            "{hint} not in a link's name"
        );
    }
    for email in emails {
        assert!(!html.contains(email), "the page shows {email}");
    }
    // So does the history page, under the name of whom the money went to.
    let html = client()
        .get(format!("{base}/transactions"))
        .header("cookie", format!("paisa_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!(">{}</p>", hints[1])), "{} not shown", hints[1]);
    assert!(!html.contains(emails[1]), "the page shows {}", emails[1]);
}
