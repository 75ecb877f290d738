//! The layers every request passes through: request ids, security headers,
//! CORS, generic 5xx bodies, the time limit, the body limit's connection
//! close, cross-site refusal. Their order
//! is in `router.rs`: whatever layer answers, the answer still passes
//! through the headers, CORS and error-body layers.

use crate::server::http::rest::error::ApiError;
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Request ids: a per-process random prefix and a counter; cheap and unique
/// enough to find one request's lines in the log.
#[derive(Clone)]
pub struct RequestIds {
    prefix: u32,
    next: std::sync::Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> RequestIds {
        RequestIds {
            prefix: rand::random(),
            next: Default::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// CORS: same-origin only unless origins are configured (checked by
/// `config::cors_origins`).
pub fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
        ])
}

/// Refuses state-changing requests that a browser says come from another
/// site (Origin not ours nor allowed): with the SameSite cookie, a second
/// wall against cross-site request forgery.
pub async fn refuse_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = origin {
        let authority = origin.split_once("://").map(|(_, a)| a);
        let same_origin = authority.is_some() && authority == host;
        let allowed = state.cors_origins.iter().any(|o| o.trim() == origin);
        if !same_origin && !allowed {
            tracing::warn!(%origin, "refused a cross-site request");
            return (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({}))).into_response();
        }
    }
    next.run(request).await
}

/// Headers for every response. Pages get a stricter, nonce-based CSP from
/// the shell (`app::shell`); this default covers everything else. Answers
/// about someone's money (the API, server functions, private pages) are
/// never stored by a browser or proxy; over HTTPS, browsers are told to
/// come back only over HTTPS.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let private = path.starts_with("/api/") || path == crate::paths::HOME || crate::paths::is_private(path);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // same-origin: our own no-JavaScript form posts need the Referer to
        // come back to the form; no other site ever sees our URLs.
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.cookie_secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// A 5xx never carries details to the client: anything but our own JSON
/// error bodies (already generic) is replaced by a generic text. The details
/// are in the log, under the request id the client also gets.
pub async fn hide_server_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !response.status().is_server_error() {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from("Internal server error"))
}

/// Answers 503 when a request takes longer than the state's time limit.
pub async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(state.request_time_limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, "request timed out");
            ApiError::unavailable().into_response()
        }
    }
}

/// A body refused as too large was never read: close the connection after
/// the 413, or the unread bytes would be taken for the next request.
pub async fn close_after_refused_body(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
