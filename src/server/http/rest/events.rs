//! `/events`: the live stream (server-sent events) of the signed-in user's
//! new journal entries. The stream's rules are `live/`'s; this is the
//! adapter: authenticate, bound, then write each event.

use super::error::{ApiError, Refusals};
use super::history_json;
use crate::server::auth::extract::{AuthUser, ClientAddress};
use crate::server::auth::network::network;
use crate::server::live::{Listener, Out};
use crate::server::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

/// A comment line at least this often keeps proxies from closing an idle
/// stream (SPEC: at least every 20 s).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a dropped stream.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[derive(Deserialize)]
struct EventsQuery {
    /// For clients that cannot set the `Last-Event-ID` header (a new
    /// browser `EventSource`).
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    AuthUser { user, session }: AuthUser,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let subscription = state
        .live
        .subscribe(user, address.map(network))
        .map_err(ApiError::live_refused)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.ok().and_then(|Query(q)| q.last_event_id));
    let listener = Listener::start(
        state.bank.clone(),
        state.sessions.clone(),
        user,
        session,
        subscription,
        last_event_id.as_deref(),
    )
    .await
    .map_err(|e| ApiError::bank(e, Refusals::Named))?;
    let hello = Event::default().retry(RECONNECT_AFTER).comment("live");
    let events = futures::stream::unfold(listener, |mut listener| async move {
        let out = listener.next().await?;
        Some((Ok::<_, Infallible>(event(&out)), listener))
    });
    let stream = futures::StreamExt::chain(futures::stream::once(async { Ok(hello) }), events);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Tell buffering proxies (nginx) to pass each event on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// One event as it is written: `transfer` (id: the entry's), `request` or
/// `resync`.
fn event(out: &Out) -> Event {
    match out {
        Out::Entry(live) => {
            let mut data = history_json(&live.entry);
            data["balance"] = live
                .balance
                .map_or(serde_json::Value::Null, |b| b.to_rupees_f64().into());
            Event::default()
                .event("transfer")
                .id(live.entry.id.clone())
                .data(data.to_string())
        }
        Out::Request(request) => Event::default()
            .event("request")
            .data(super::requests::request_json(request).to_string()),
        Out::Resync => Event::default().event("resync").data("{}"),
    }
}
