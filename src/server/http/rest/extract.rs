//! Reading request bodies strictly.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON body, strictly: `application/json`, at most the router's size
/// limit, and no `$`-prefixed key anywhere (operator injection), before it
/// is read into `T`. Any failure is `BadInput`; each route answers it with
/// its own documented error.
pub struct StrictJson<T>(pub T);

#[derive(Debug)]
pub struct BadInput;

impl IntoResponse for BadInput {
    fn into_response(self) -> Response {
        super::error::Refusals::Named.bad_input().into_response()
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = BadInput;

    async fn from_request(req: Request, state: &S) -> Result<StrictJson<T>, BadInput> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(BadInput);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| BadInput)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| BadInput)?;
        if has_operator_key(&value) {
            return Err(BadInput);
        }
        // Parsed again from the bytes (not the Value) so amounts keep their
        // exact source text.
        serde_json::from_slice(&bytes).map(StrictJson).map_err(|_| BadInput)
    }
}

fn has_operator_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k.starts_with('$') || has_operator_key(v)),
        Value::Array(items) => items.iter().any(has_operator_key),
        _ => false,
    }
}
