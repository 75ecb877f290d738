//! Accepting connections, within bounds that keep any one client from
//! taking the instance away from the others: a cap on connections in all
//! and per client address; a connection must send a complete request head
//! within `ConnectionLimits::head` of being accepted, whatever its
//! protocol (hyper reads the protocol's first bytes with no timeout, and
//! its HTTP/1 header timeout starts only after them); an HTTP/2
//! connection with no request in flight is closed after
//! `ConnectionLimits::idle`, and one whose peer stops answering pings
//! sooner. One connection loop of our own rather than `axum::serve`, for
//! these and to give each request its peer's address.

use crate::server::config::ConnectionLimits;
use crate::server::http::router::router;
use crate::server::state::AppState;
use axum::extract::ConnectInfo;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Serves the router on `listener` until `shutdown` completes, then lets
/// the requests in flight finish.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::server::graceful::GracefulShutdown;

    let limits = state.connections;
    let live = state.live.clone();
    let throttle = state.throttle.clone();
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            throttle.forget_idle();
        }
    });
    let expiring = crate::server::expiry::sweep_every_minute(state.db.clone());
    let app = router(state);
    let open = Arc::new(Semaphore::new(limits.total));
    let addresses = Addresses::default();
    let graceful = GracefulShutdown::new();
    let builder = builder(limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "{} connections open: refused one", limits.total);
            continue;
        };
        let Some(slot) = addresses.take(peer.ip(), limits.per_address) else {
            tracing::debug!(%peer, "this address holds its most connections: refused one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = hyper_util::service::TowerToHyperService::new(service(app.clone(), peer, &activity));
        let connection = builder
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _held = (permit, slot);
            watch(connection, &activity, limits, peer).await;
        });
    }
    drop(listener);
    // Live streams never end by themselves: end them, then drain.
    live.close();
    graceful.shutdown().await;
    sweeper.abort();
    expiring.abort();
    Ok(())
}

/// HTTP/1 and HTTP/2 as the limits say: a head's time limit, and pings
/// that find an HTTP/2 peer gone.
fn builder(limits: ConnectionLimits) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.idle / 2))
        .keep_alive_timeout(limits.idle / 2);
    builder
}

/// The router for one connection: each request sees its peer's address,
/// and counts as in flight until its answer's body is done (a live stream
/// for as long as it runs).
fn service(
    app: axum::Router,
    peer: std::net::SocketAddr,
    activity: &Arc<Activity>,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let (began, answered) = (activity.clone(), activity.clone());
    app.map_request(move |request: hyper::Request<hyper::body::Incoming>| {
        began.begin();
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    })
    .map_response(move |response: axum::response::Response| {
        let done = InFlight(answered.clone());
        response.map(move |body| {
            axum::body::Body::new(body.map_frame(move |frame| {
                let _ = &done;
                frame
            }))
        })
    })
}

/// Runs `connection` until it ends, closing it when it sends no request
/// head in time or stays idle too long.
async fn watch<C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>>(
    connection: C,
    activity: &Activity,
    limits: ConnectionLimits,
    peer: std::net::SocketAddr,
) {
    tokio::pin!(connection);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            ended = &mut connection => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = every.tick() => {
                if let Some(why) = activity.overdue(limits) {
                    tracing::debug!(%peer, "connection closed: {why}");
                    return;
                }
            }
        }
    }
}

/// What one connection has done, for its watch.
struct Activity {
    accepted: Instant,
    /// Whether a request head has come.
    asked: AtomicBool,
    in_flight: AtomicUsize,
    /// When the last request began or ended (ms after `accepted`).
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            asked: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn begin(&self) {
        self.asked.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.last.store(self.now(), Ordering::Release);
    }

    /// Why the connection should be closed now, if it should.
    fn overdue(&self, limits: ConnectionLimits) -> Option<&'static str> {
        if !self.asked.load(Ordering::Acquire) {
            return (self.accepted.elapsed() >= limits.head).then_some("no request head in time");
        }
        let idle = Duration::from_millis(self.now().saturating_sub(self.last.load(Ordering::Acquire)));
        (self.in_flight.load(Ordering::Acquire) == 0 && idle >= limits.idle).then_some("idle")
    }
}

/// A request in flight until dropped (with its answer's body).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.last.store(self.0.now(), Ordering::Release);
    }
}

/// Connections open per client address.
#[derive(Clone, Default)]
struct Addresses(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl Addresses {
    /// A place for one more connection from `address`, if it has room.
    fn take(&self, address: IpAddr, most: Option<usize>) -> Option<AddressSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(address).or_default();
        if most.is_some_and(|most| *n >= most) {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            addresses: self.clone(),
            address,
        })
    }
}

/// One connection's place in its address's count; freed when dropped.
struct AddressSlot {
    addresses: Addresses,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.addresses.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}
