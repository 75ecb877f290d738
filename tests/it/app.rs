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
    let pay = "/pay/65f1a0ffee0123456789abcd?amount=5&note=Tea";
    for (path, to) in [
        ("/", "/signin".to_owned()),
        ("/dashboard", "/signin?next=%2Fdashboard".to_owned()),
        (pay, format!("/signin?next={}", paisa::paths::query_escape(pay))),
    ] {
        let res = client().get(format!("{base}{path}")).send().await.unwrap();
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        assert_eq!(res.headers()["location"], to.as_str());
    }
    // Signing in goes back there, and only ever to a page of this site.
    let me = env.user("Asha", "Rao").await;
    let email = crate::common::db::find(&env.db, "users", mongodb::bson::doc! { "_id": me })
        .await
        .unwrap()
        .get_str("username")
        .unwrap()
        .to_owned();
    for (next, lands) in [
        (pay, pay),
        ("//evil.example/", "/dashboard"),
        ("https://evil.example", "/dashboard"),
        // A control character (it cannot stand in a header): the
        // dashboard, answered, not a connection closed unanswered.
        ("/dashboard?x=\u{1}", "/dashboard"),
        ("/pay/65f1a0ffee0123456789abcd?note=a b", "/dashboard"),
    ] {
        let res = submit_form(
            &client(),
            &base,
            "/signin",
            "/api/sign_in",
            &[
                ("username", email.as_str()),
                ("password", crate::common::PASSWORD),
                ("next", next),
            ],
        )
        .await;
        assert!(res.status().is_redirection(), "{next}: {}", res.status());
        assert_eq!(res.headers()["location"], lands, "next={next}");
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

/// A form post as a signed-in browser without JavaScript makes it.
async fn post_signed_in(
    base: &str,
    token: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(format!("{base}{action}"))
        .header("accept", "text/html")
        .header("referer", format!("{base}{page}"))
        .header("cookie", format!("paisa_session={token}"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn page_signed_in(base: &str, token: &str, path: &str) -> (reqwest::StatusCode, String, Option<String>) {
    let res = client()
        .get(format!("{base}{path}"))
        .header("accept", "text/html")
        .header("cookie", format!("paisa_session={token}"))
        .send()
        .await
        .unwrap();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (res.status(), res.text().await.unwrap(), location)
}

#[tokio::test]
async fn without_javascript_a_request_is_asked_confirmed_and_paid_and_a_pay_link_prefills() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let (asha, ravi) = (env.user("Asha", "Rao").await, env.user("Ravi", "Kumar").await);
    crate::common::db::set_balance(&env.db, asha, 10_000).await;
    let (asha_token, ravi_token) = (env.token(asha).await, env.token(ravi).await);

    // Ravi asks Asha from the dialog's form.
    let asked = post_signed_in(
        &base,
        &ravi_token,
        &format!("/dashboard?request={}", asha.to_hex()),
        "/api/ask_money",
        &[("from", &asha.to_hex()), ("amount", "2.50"), ("note", "Chai")],
    )
    .await;
    assert!(asked.status().is_redirection(), "{}", asked.status());
    let (_, html, _) = page_signed_in(&base, &asha_token, "/dashboard").await;
    assert!(
        html.contains("Ravi Kumar asks you for ₹2.50"),
        "the payer's dashboard lists it"
    );
    let request = find(&env.db, "requests", doc! { "from": asha }).await.unwrap();
    let id = request.get_object_id("_id").unwrap().to_hex();

    // The confirm step says who and how much, with the masked email; nothing moved.
    let (status, html, _) = page_signed_in(&base, &asha_token, &format!("/dashboard?pay={id}")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        html.contains("You are paying ₹2.50 to Ravi Kumar (r•••@example.com)"),
        "confirm step"
    );
    assert_eq!(crate::common::db::balance(&env.db, asha).await, 10_000);
    let paid = post_signed_in(
        &base,
        &asha_token,
        &format!("/dashboard?pay={id}"),
        "/api/pay_request",
        &[("id", &id)],
    )
    .await;
    assert!(paid.status().is_redirection(), "{}", paid.status());
    assert_eq!(crate::common::db::balance(&env.db, asha).await, 9_750);
    // Sent again (a resubmitted form): refused, nothing moves twice.
    let again = post_signed_in(&base, &asha_token, "/dashboard", "/api/pay_request", &[("id", &id)]).await;
    assert!(again.status().is_redirection());
    assert_eq!(crate::common::db::balance(&env.db, asha).await, 9_750);

    // A pay link opens the Send Money dialog, prefilled.
    let (status, _, location) = page_signed_in(
        &base,
        &asha_token,
        &format!("/pay/{}?amount=3.25&note=Tea", ravi.to_hex()),
    )
    .await;
    assert!(status.is_redirection(), "{status}");
    let location = location.unwrap();
    assert_eq!(
        location,
        format!("/dashboard?send={}&amount=3.25&note=Tea", ravi.to_hex())
    );
    let (_, html, _) = page_signed_in(&base, &asha_token, &location).await;
    assert!(
        html.contains(r#"value="3.25""#) && html.contains(r#"value="Tea""#),
        "prefilled"
    );
    let (status, html, _) = page_signed_in(&base, &asha_token, "/pay/nobody").await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert!(html.contains("This pay link is not valid"));
    // The Receive card: the pay link and its QR code, in the first HTML.
    let (_, html, _) = page_signed_in(&base, &ravi_token, "/dashboard").await;
    assert!(
        html.contains(&format!("/pay/{}", ravi.to_hex())) && html.contains("<svg"),
        "receive card"
    );
    crate::common::db::assert_books_balance(&env.db).await;
}

#[tokio::test]
async fn without_javascript_send_money_shows_only_a_payment_from_the_viewer_to_that_person() {
    let env = TestEnv::new().await;
    let base = env.serve().await;
    let (asha, ravi, mira) = (
        env.user("Asha", "Rao").await,
        env.user("Ravi", "Kumar").await,
        env.user("Mira", "Nair").await,
    );
    crate::common::db::set_balance(&env.db, asha, 10_000).await;
    crate::common::db::set_balance(&env.db, ravi, 10_000).await;
    let token = env.token(asha).await;
    let form = format!("/dashboard?send={}", ravi.to_hex());

    // The server-rendered form carries its idempotency key.
    let (_, html, _) = page_signed_in(&base, &token, &form).await;
    let key = html
        .split(r#"name="idempotency_key" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a key in the form");
    assert!(key.len() > 8 && key.ends_with("-0"), "{key}");

    // Sent by the plain form: on to the success view, which shows it.
    let fields = [
        ("to", ravi.to_hex()),
        ("amount", "1.25".into()),
        ("idempotency_key", key.into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = post_signed_in(&base, &token, &form, "/api/send_money", &fields).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let done = res.headers()["location"].to_str().unwrap().to_owned();
    let sent = find(&env.db, "transfers", doc! { "from": asha }).await.unwrap();
    let sent = sent.get_object_id("_id").unwrap().to_hex();
    assert_eq!(done, format!("{form}&sent={sent}"));
    let (_, html, _) = page_signed_in(&base, &token, &done).await;
    assert!(html.contains("Sent ₹1.25 to Ravi"), "success view");
    // The same form again (back and resubmit): the same key, sent once.
    let again = post_signed_in(&base, &token, &form, "/api/send_money", &fields).await;
    assert!(again.status().is_redirection(), "{}", again.status());
    assert_eq!(crate::common::db::balance(&env.db, asha).await, 10_000 - 125);

    // Any other entry under a person's name shows no receipt: one Asha
    // received from Ravi, hers to Ravi under Mira's name, one between others.
    let bank = env.bank();
    let received = bank
        .transfer(ravi, &asha.to_hex(), Money::from_paise(500), None)
        .await
        .unwrap();
    let others = bank
        .transfer(ravi, &mira.to_hex(), Money::from_paise(100), None)
        .await
        .unwrap();
    for (to, entry) in [
        (ravi, received.transfer_id.as_str()),
        (mira, sent.as_str()),
        (mira, others.transfer_id.as_str()),
        (ravi, "not-an-entry"),
    ] {
        let path = format!("/dashboard?send={}&sent={entry}", to.to_hex());
        let (status, html, _) = page_signed_in(&base, &token, &path).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{path}");
        assert!(
            !html.contains("Sent ₹") && !html.contains("new-balance"),
            "{path}: a receipt"
        );
        assert!(html.contains("No such transfer"), "{path}: no refusal");
    }
    crate::common::db::assert_books_balance(&env.db).await;
}
