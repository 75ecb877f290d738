//! The vertical slice over HTTP: the real router on an ephemeral port, the
//! real database. Sign up through the server function the form posts to,
//! and land on a dashboard that shows the balance from the database.

use crate::common::db::{count, find};
use crate::common::http::{client, submit_form};
use crate::common::TestEnv;
use mongodb::bson::doc;
use paisa::money::Money;

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let res = client().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn signup_page_is_server_rendered_with_its_form() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let res = client().get(format!("{base}/signup")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    for needle in [
        r#"action="/api/sign_up""#,
        r#"name="first_name""#,
        r#"name="username""#,
        r#"name="password""#,
    ] {
        assert!(html.contains(needle), "missing {needle} in /signup");
    }
}

#[tokio::test]
async fn private_pages_send_signed_out_visitors_to_sign_in() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    for path in ["/", "/dashboard"] {
        let res = client().get(format!("{base}{path}")).send().await.unwrap();
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        assert_eq!(res.headers()["location"], "/signin");
    }
}

#[tokio::test]
async fn signing_up_by_form_post_lands_on_a_dashboard_with_the_stored_balance() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let http = client();
    let res = submit_form(
        &http,
        &base,
        "/signup",
        "/api/sign_up",
        &[
            ("first_name", " Asha "),
            ("last_name", "Rao"),
            ("username", "Asha.Rao@Example.com"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/dashboard");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let user = find(&env.db, "users", doc! { "username": "asha.rao@example.com" })
        .await
        .expect("user stored");
    assert_eq!(user.get_str("firstName").unwrap(), "Asha");
    let account = find(
        &env.db,
        "accounts",
        doc! { "userId": user.get_object_id("_id").unwrap() },
    )
    .await
    .expect("account stored");
    let balance = Money::from_paise(account.get_i64("balance").expect("balance is an Int64 of paise"));
    assert!((100..=1_000_000).contains(&balance.paise()), "{balance}");

    let res = http
        .get(format!("{base}/dashboard"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Hello, Asha"), "greeting missing");
    assert!(html.contains(&balance.to_string()), "balance {balance} missing");
}

#[tokio::test]
async fn a_failed_form_post_comes_back_to_the_form_with_the_reason() {
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
            ("last_name", "Rao"),
            ("username", "not-an-email"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert!(res.status().is_redirection());
    assert!(res.headers().get("set-cookie").is_none());
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&format!("{base}/signup?")), "{back}");
    let html = http.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Enter a valid email address"), "message missing");
    assert_eq!(count(&env.db, "users", doc! {}).await, 0);
}
