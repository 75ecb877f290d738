//! Requests to the app under test: over HTTP (a browser-like client, the
//! JSON API's client) or through the router in process, and the rules
//! requests are judged by that more than one suite needs.

use super::TestEnv;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// A client that shows redirects instead of following them, as a test of
/// pages and forms needs.
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What a browser without JavaScript sends when the form on `page` is
/// submitted to `action`.
pub async fn submit_form(http: &Client, base: &str, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
    http.post(format!("{base}{action}"))
        .header("accept", "text/html")
        .header("referer", format!("{base}{page}"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The JSON API (`/api/v1`) of a served test environment.
pub struct Api {
    pub base: String,
    pub http: Client,
}

impl Api {
    pub async fn new(env: &TestEnv) -> Api {
        let base = env.serve().await;
        Api {
            base: format!("{base}/api/v1"),
            http: Client::new(),
        }
    }

    /// `method path`, with `token` as a Bearer token and `body` as JSON.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// `method path` with a body sent as is, declared as `content_type`.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// GET /account/balance, which must answer 200: the balance in rupees.
    pub async fn balance(&self, token: &str) -> f64 {
        let res = self.call(Method::GET, "/account/balance", Some(token), None).await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["balance"].as_f64().unwrap()
    }
}

/// A body as JSON, or (if it is not JSON) its text as a JSON string.
fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
}

/// The status and the body (see [`json_or_text`]) of an HTTP answer.
pub async fn status_and_body(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let bytes = res.bytes().await.unwrap();
    (status, json_or_text(&bytes))
}

/// Sends one request through `app` in process (no socket): `token` as a
/// Bearer token, a `body` declared as JSON, then `headers`. The status and
/// the body (see [`json_or_text`]).
pub async fn route(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    headers: Vec<(&str, HeaderValue)>,
    body: Option<Vec<u8>>,
) -> (axum::http::StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, json_or_text(&bytes))
}

/// Percent-encodes every byte but ASCII letters and digits.
pub fn pct(text: impl AsRef<[u8]>) -> String {
    text.as_ref()
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The spec's rule for request bodies, independently of the server's code:
/// a `$` at the start of any key, at any depth, and the body is refused.
pub fn has_dollar_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.starts_with('$') || has_dollar_key(v)),
        Value::Array(items) => items.iter().any(has_dollar_key),
        _ => false,
    }
}
