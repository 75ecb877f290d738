//! The one router: health check, the JSON API, server functions, pages and
//! assets, inside the layers every request passes through.

use crate::app::{shell, App};
use crate::paths;
use crate::server::auth::extract::AuthUser;
use crate::server::db;
use crate::server::http::{assets, middleware, rest};
use crate::server::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

/// Request bodies larger than this are refused with 413 before any handler.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The whole HTTP surface. Layers, outermost first: request id and trace;
/// security headers and CORS (so every answer carries them, whichever layer
/// made it); server-function error bodies; generic 5xx bodies; a panic's
/// 500; the time limit; the body limit; cross-site refusal; the page guard.
pub fn router(state: AppState) -> Router {
    let pages = {
        let context = state.clone();
        let options = state.leptos_options.clone();
        Router::<AppState>::new().leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(context.clone()),
            move || shell(options.clone()),
        )
    };
    let tracing = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(middleware::RequestIds::default()))
        .layer(
            TraceLayer::new_for_http().make_span_with(request_span).on_response(
                DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(LatencyUnit::Micros),
            ),
        )
        .layer(PropagateRequestIdLayer::x_request_id());
    // `.layer` wraps what is above it: the last one is the outermost.
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", rest::router())
        .merge(pages)
        .fallback(assets::serve)
        .layer(from_fn_with_state(state.clone(), page_guard))
        .layer(from_fn_with_state(state.clone(), middleware::refuse_cross_site))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(from_fn(middleware::close_after_refused_body))
        .layer(from_fn_with_state(state.clone(), middleware::time_limit))
        // A handler that panics answers 500 (its body made generic just
        // outside) instead of closing the connection unanswered.
        .layer(CatchPanicLayer::new())
        .layer(from_fn(middleware::hide_server_errors))
        .layer(from_fn(crate::server_fns::errors::error_bodies))
        .layer(middleware::cors(&state.cors_origins))
        .layer(from_fn_with_state(state.clone(), middleware::security_headers))
        .layer(tracing)
        .with_state(state)
}

/// One span per request, carrying its id: every line a request logs can be
/// found from the id its client got.
fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
}

async fn healthz(State(state): State<AppState>) -> Response {
    if db::ping(&state.db).await {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

/// Sends signed-out visitors of private pages to sign-in, and signed-in ones
/// away from the sign-in pages, before anything is rendered: no flash of the
/// wrong page. (After hydration the router navigates in the browser and the
/// pages check the session themselves.)
async fn page_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let private = paths::is_private(&path);
    let signed_out_only = paths::SIGNED_OUT.contains(&path.as_str());
    let home = path == paths::HOME;
    if request.method() != Method::GET || !(private || signed_out_only || home) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let signed_in = AuthUser::from_request_parts(&mut parts, &state).await.is_ok();
    let go_to = match signed_in {
        // Back here once signed in (a pay link keeps its amount and note).
        false if private => Some(format!(
            "{}?next={}",
            paths::SIGN_IN,
            paths::query_escape(parts.uri.path_and_query().map_or(path.as_str(), |p| p.as_str()))
        )),
        false if home => Some(paths::SIGN_IN.to_owned()),
        true if signed_out_only || home => Some(paths::DASHBOARD.to_owned()),
        _ => None,
    };
    match go_to {
        Some(page) => Redirect::to(&page).into_response(),
        None => next.run(Request::from_parts(parts, body)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page the app routes is known to the guard, so a new private
    /// page cannot be served to signed-out visitors by forgetting it.
    #[test]
    fn the_guard_knows_every_page() {
        for route in generate_route_list(App).iter() {
            let path = route.path();
            let pay_link = path.starts_with(paths::PAY) && paths::is_private("/pay/65f1a0ffee0123456789abcd");
            assert!(
                path == paths::HOME || paths::PRIVATE.contains(&path) || paths::SIGNED_OUT.contains(&path) || pay_link,
                "{path} is not in paths::PRIVATE or paths::SIGNED_OUT"
            );
        }
    }
}
