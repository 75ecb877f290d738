//! The browser's side of the stream: one `EventSource` at a time. The
//! browser reconnects a dropped one by itself (sending `Last-Event-ID`);
//! when it gives up instead (a refusal: 429 too many streams, 503 full or
//! restarting), a new one is opened after a growing pause, from the last
//! entry seen. A page in the background lets its stream go (browsers
//! allow a site only six connections over HTTP/1.1, and the server eight
//! streams a user) and opens it again from there when it is shown. It
//! stops when the page goes away, or once the user is signed out (403).

use super::wait::{hidden_for, sleep, until_shown};
use super::{event, Arrival, Live};
use crate::error::AppError;
use crate::paths::query_escape;
use crate::server_fns::get_me;
use futures::future::{select, Either};
use futures::stream::{select_all, StreamExt};
use gloo_net::eventsource::futures::EventSource;
use leptos::prelude::*;
use std::pin::pin;
use std::time::Duration;

/// The most entries a page keeps as they arrive; one more, and it is told
/// to read its data afresh instead.
const KEEP: usize = 100;

/// The pause before the first new stream after a failure; it doubles with
/// each failure in a row, up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);
/// How long a page may be in the background before it lets its stream go.
const BACKGROUND_GRACE: Duration = Duration::from_secs(30);

/// Runs `live`'s stream until the current owner (the page) is cleaned up:
/// then the task is dropped, and with it the `EventSource`, which closes.
pub fn spawn(live: Live, after: Option<String>) {
    leptos::task::spawn_local_scoped_with_cancellation(run(live, after));
}

/// Why a stream ended.
enum Ended {
    /// The browser gave up on it; it was open for a while, or never.
    Closed { opened: bool },
    /// The page went to the background.
    Hidden,
}

async fn run(live: Live, mut last_id: Option<String>) {
    let mut failures: u32 = 0;
    loop {
        until_shown().await;
        let ended = listen(live, &mut last_id).await;
        live.open.try_set(false);
        match ended {
            Ended::Hidden => continue,
            Ended::Closed { opened: true } => failures = 1,
            Ended::Closed { opened: false } => failures = failures.saturating_add(1),
        }
        sleep(pause(failures)).await;
        // A refused stream does not say why; the session does.
        if get_me().await == Err(AppError::Unauthorized) {
            return;
        }
    }
}

/// Listens to one `EventSource` until the browser gives up on it or the
/// page goes to the background.
async fn listen(live: Live, last_id: &mut Option<String>) -> Ended {
    // A new EventSource cannot send `Last-Event-ID`; the server takes it
    // from the query too.
    let url = match last_id {
        Some(id) => format!("/api/v1/events?lastEventId={}", query_escape(id)),
        None => "/api/v1/events".to_owned(),
    };
    let Ok(mut source) = EventSource::new(&url) else {
        return Ended::Closed { opened: false };
    };
    // `open` and `error` carry no data; they arrive as events like the
    // others (and are never read as messages).
    let Ok(kinds) = ["open", "error", "transfer", "request", "resync"]
        .into_iter()
        .map(|kind| source.subscribe(kind))
        .collect::<Result<Vec<_>, _>>()
    else {
        return Ended::Closed { opened: false };
    };
    let mut heard = select_all(kinds);
    let mut hidden = pin!(hidden_for(BACKGROUND_GRACE));
    let mut opened = false;
    loop {
        let (kind, message) = match select(heard.next(), hidden.as_mut()).await {
            Either::Left((Some(Ok(event)), _)) => event,
            // Each subscription ends in an error once the browser closes the source.
            Either::Left(_) => return Ended::Closed { opened },
            Either::Right(_) => return Ended::Hidden,
        };
        match kind.as_str() {
            "open" => {
                opened = true;
                live.open.try_set(true);
                // Started from "now", not from an entry: whatever came
                // between the page's data and this moment is unknown.
                if last_id.is_none() {
                    live.mark_stale();
                }
            }
            // The connection dropped: the browser is reconnecting, or
            // gives up (then the stream ends below).
            "error" => {
                live.open.try_set(false);
            }
            "transfer" => match message.data().as_string().as_deref().and_then(event::parse) {
                Some(arrival) => {
                    *last_id = Some(arrival.entry.id.clone());
                    live.arrive(arrival);
                }
                None => live.mark_stale(),
            },
            "request" => {
                live.requests.try_update(|n| *n = n.wrapping_add(1));
            }
            _ => live.mark_stale(),
        }
    }
}

impl Live {
    fn arrive(self, arrival: Arrival) {
        let mut overflowed = false;
        self.arrivals.try_update(|all| {
            if all.iter().any(|a| a.entry.id == arrival.entry.id) {
                return;
            }
            if all.len() == KEEP {
                all.clear();
                overflowed = true;
            }
            all.push(arrival);
        });
        if overflowed {
            self.mark_stale();
        }
    }

    fn mark_stale(self) {
        self.stale.try_update(|n| *n = n.wrapping_add(1));
    }
}

/// The pause before the next stream: doubling, capped, and spread out at
/// random so that pages refused together (a restart) do not return together.
fn pause(failures: u32) -> Duration {
    let doubled = FIRST_PAUSE.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled
        .min(LONGEST_PAUSE)
        .mul_f64(0.5 + web_sys::js_sys::Math::random() / 2.0)
}
