//! The site's static files (WASM, JS, CSS, public assets). A release build
//! carries them inside the binary, so `target/release/paisa` alone serves the
//! whole app; a debug build reads them from `target/site` on each request.
//! `scripts/build-release` writes the site (with `.gz`/`.br` copies), keeps
//! its copy in `target/site-embedded` up to date file by file, then compiles
//! the server; `build.rs` makes a changed copy rebuild it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::state::AppState;

#[derive(rust_embed::Embed)]
// Debug: read from where cargo-leptos writes the site. Release: embedded
// from the copy `scripts/build-release` keeps (changed files only, so an
// unchanged site does not recompile the server).
#[cfg_attr(debug_assertions, folder = "target/site")]
#[cfg_attr(not(debug_assertions), folder = "target/site-embedded")]
#[allow_missing = true]
struct Site;

/// Serves a site file if there is one at the request's path; otherwise the
/// app renders its "not found" page.
pub async fn serve(state: State<AppState>, request: Request) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        if let Some(response) = file(request.uri().path(), request.headers()) {
            return response;
        }
    }
    let uri = request.uri().clone();
    leptos_axum::file_and_error_handler::<AppState, _>(crate::app::shell)(uri, state, request).await
}

fn file(path: &str, headers: &HeaderMap) -> Option<Response> {
    let path = path.trim_start_matches('/');
    if path.is_empty() || path.ends_with(".gz") || path.ends_with(".br") {
        return None;
    }
    let plain = Site::get(path)?;
    let etag = format!(
        "\"{}\"",
        plain.metadata.sha256_hash()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // The precompressed copy the client accepts, if the build made one.
        let accepts = |coding: &str| {
            headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|c| c.split(';').next().unwrap_or("").trim() == coding))
        };
        let compressed = [("br", ".br"), ("gzip", ".gz")]
            .into_iter()
            .filter(|(coding, _)| accepts(coding))
            .find_map(|(coding, suffix)| Some((coding, Site::get(&format!("{path}{suffix}"))?)));
        let mut response = match compressed {
            Some((coding, file)) => {
                let mut r = Body::from(file.data).into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
                r
            }
            None => Body::from(plain.data).into_response(),
        };
        if let Ok(mime) = HeaderValue::from_str(plain.metadata.mimetype()) {
            response.headers_mut().insert(header::CONTENT_TYPE, mime);
        }
        response
    };
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // File names carry no hash: let browsers keep a copy but check it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    Some(response)
}
