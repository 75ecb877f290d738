//! Everything that runs only on the server. None of it reaches the WASM
//! bundle: the module is compiled only with the `ssr` feature.

pub mod assets;
pub mod auth;
pub mod bank;
pub mod config;
pub mod db;
pub mod embedded;
pub mod error;
pub mod http;
pub mod rest;
pub mod throttle;

use crate::app::{shell, App};
use auth::{token_from_headers, Passwords, Sessions};
use axum::extract::{FromRef, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bank::Bank;
use config::Config;
use embedded::EmbeddedMongo;
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use mongodb::Database;
use std::process::ExitCode;
use std::time::Duration;
use throttle::{Limits, Throttle};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Database,
    pub bank: Bank,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub cookie_secure: bool,
    pub trust_forwarded_for: bool,
    pub cors_origins: Vec<String>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// Builds the shared state over a connected database.
    pub fn new(leptos_options: LeptosOptions, client: mongodb::Client, db: Database, sessions: Sessions) -> AppState {
        // Argon2 at 19 MiB a hash, CPU-bound: one at a time per core; more
        // would only add memory, not throughput.
        let passwords = Passwords::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let bank = Bank::new(client, &db, passwords);
        AppState {
            leptos_options,
            db,
            bank,
            sessions,
            throttle: Throttle::new(Limits::default()),
            cookie_secure: false,
            trust_forwarded_for: false,
            cors_origins: Vec::new(),
        }
    }
}

/// How long a shutdown waits for requests in flight to finish.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// Request bodies larger than this are refused with 413 before any handler.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The whole HTTP surface: health check, JSON API, server functions, pages,
/// assets; wrapped in the layers every request passes through.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let pages = {
        let context = state.clone();
        let options = state.leptos_options.clone();
        Router::<AppState>::new().leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context.clone()),
            move || shell(options.clone()),
        )
    };
    let cors = http::cors(&state.cors_origins);
    let tracing = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(http::RequestIds::default()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::x_request_id());
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", rest::routes())
        .merge(pages)
        .fallback(assets::serve)
        .layer(middleware::from_fn(http::server_fn_status))
        .layer(middleware::from_fn_with_state(state.clone(), page_guard))
        .layer(middleware::from_fn_with_state(state.clone(), http::refuse_cross_site))
        .layer(cors)
        .layer(middleware::from_fn(http::security_headers))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(http::close_after_refused_body))
        .layer(middleware::from_fn(http::time_limit))
        .layer(middleware::from_fn(http::hide_server_errors))
        .layer(tracing)
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes, with each
/// request's peer address available (for rate limiting).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let throttle = state.throttle.clone();
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            throttle.forget_idle();
        }
    });
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    sweeper.abort();
    result
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
    let path = request.uri().path();
    let private = matches!(path, "/" | "/dashboard" | "/transactions" | "/profile");
    let public_only = matches!(path, "/signin" | "/signup");
    if request.method() != axum::http::Method::GET || !(private || public_only) {
        return next.run(request).await;
    }
    let signed_in = token_from_headers(request.headers()).is_some_and(|t| state.sessions.verify(t).is_ok());
    if private && !signed_in {
        Redirect::to("/signin").into_response()
    } else if signed_in && (public_only || path == "/") {
        Redirect::to("/dashboard").into_response()
    } else {
        next.run(request).await
    }
}

/// Starts Paisa: configuration, database (embedded unless MONGODB_URI is
/// set), indexes, HTTP server; on SIGINT/SIGTERM, drains requests, then
/// stops the embedded database.
pub async fn run() -> ExitCode {
    let config = Config::load();
    init_tracing(&config.log);
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("paisa: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let mut leptos_options = leptos::config::get_configuration(None)
        .map_err(|e| format!("Leptos configuration: {e}"))?
        .leptos_options;
    if leptos_options.output_name.is_empty() {
        leptos_options.output_name = "paisa".into();
    }
    let sessions = Sessions::from_config(
        config.jwt_secret.as_deref(),
        &config.data_dir,
        Duration::from_secs(config.session_ttl_minutes * 60),
    )?;

    let mut embedded = None;
    let uri = match &config.mongodb_uri {
        Some(uri) => uri.clone(),
        None => {
            let storage = config.data_dir.join("db");
            let db = EmbeddedMongo::start(&config.secantusd, &storage)
                .map_err(|e| format!("cannot start the embedded database: {e}"))?;
            tracing::info!(port = db.port(), storage = %storage.display(), "embedded SecantusDB started");
            let uri = db.uri();
            embedded = Some(db);
            uri
        }
    };
    let (client, db) = db::connect(&uri, &config.mongodb_db).await?;
    db::ensure_indexes(&db)
        .await
        .map_err(|e| format!("cannot create indexes: {e}"))?;
    db::end_abandoned_transactions(&client).await;

    leptos_options.site_addr = config.site_addr;
    let addr = config.site_addr;
    let mut state = AppState::new(leptos_options, client, db, sessions);
    state.cookie_secure = config.cookie_secure;
    state.trust_forwarded_for = config.trust_forwarded_for;
    state.cors_origins = config
        .cors_origins
        .into_iter()
        .filter(|o| !o.trim().is_empty())
        .collect();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("listening on http://{addr}");
    // On a signal: stop accepting, let requests in flight finish (each is
    // bounded by the request time limit), then stop. The drain limit is a
    // backstop for a connection that will not close.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = serve_on(listener, state, async move {
        shutdown_signal().await;
        let _ = stopping.send(());
    });
    let drain_limit = async {
        if stopped.await.is_ok() {
            tokio::time::sleep(DRAIN_LIMIT).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.map_err(|e| format!("server error: {e}"))?,
        _ = drain_limit => tracing::warn!("requests still open after {DRAIN_LIMIT:?}: stopping anyway"),
    }
    tracing::info!("stopped");
    if let Some(mut db) = embedded {
        db.stop();
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = sigterm => {},
    }
    tracing::info!("shutting down: draining requests");
}

fn init_tracing(directives: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|e| {
        eprintln!("paisa: ignoring the log filter {directives:?} ({e}); using info");
        EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
