//! Fault 1: app instance A is SIGKILLed mid-load and restarted. Proves that
//! B keeps transferring while A is down, that the restarted A is healthy and
//! completes a transfer, and that once it is back transfers flow normally
//! (no 503) within `APP_SETTLE`, as watched until the database fault.

use crate::{offset, App, Ctx, Log, APP_BACK, APP_DOWN, APP_SETTLE, APP_WATCH};
use std::time::{Duration, Instant};

/// App instances killed with SIGKILL (and restarted) in this phase.
pub const KILLS: u32 = 1;

/// What happened in the phase.
pub struct AppKill {
    /// When A was SIGKILLed.
    pub killed: Instant,
    /// When A answered its health check again.
    pub back: Instant,
    /// From the restart to healthy.
    pub restart: Duration,
    /// From healthy to a definite answer to a probe transfer through A.
    pub served: Duration,
    /// That answer.
    pub serve_status: Option<u16>,
}

/// Kills A, keeps the load going on B for two seconds, restarts A, probes
/// it, then lets the load run for `APP_SETTLE + APP_WATCH`.
pub async fn run(ctx: &Ctx, apps: &mut [App; 2], http: &reqwest::Client) -> AppKill {
    ctx.set_phase(APP_DOWN);
    let killed = Instant::now();
    apps[0].kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    apps[0].spawn();
    let restart = apps[0]
        .wait_healthy(http, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let back = Instant::now();
    let (served, serve_status) = ctx.probe_until_definite(0, Duration::from_secs(30)).await;
    ctx.set_phase(APP_BACK);
    tokio::time::sleep(APP_SETTLE + APP_WATCH).await;
    AppKill {
        killed,
        back,
        restart,
        served,
        serve_status,
    }
}

/// The phase's failures, judged from the requests `log` up to `until` (the
/// next fault).
pub fn check(kill: &AppKill, log: &Log, until: Instant) -> Vec<String> {
    let mut failures = Vec::new();
    if kill.serve_status != Some(200) {
        failures.push(format!(
            "restarted app A: probe transfer answered {:?}",
            kill.serve_status
        ));
    }
    // Once the killed instance is back, transfers flow again: within
    // APP_SETTLE, no request answered 503 (busy: still conflicting, or
    // waiting for its accounts) until the database fault.
    let watch_from = kill.back + APP_SETTLE;
    let busy: Vec<String> = log
        .events
        .iter()
        .filter(|e| e.answered >= watch_from && e.answered < until && e.answer == "503")
        .map(|e| {
            format!(
                "{} via {} sent {} from the app kill: 503 after {:.2?}",
                e.route,
                ["A", "B"][e.instance],
                offset(e.sent, kill.killed),
                e.answered - e.sent
            )
        })
        .collect();
    if !busy.is_empty() {
        failures.push(format!(
            "transfers still failing {APP_SETTLE:?} after the killed instance was back ({} x 503 between {} and {} \
             from the kill):\n  {}",
            busy.len(),
            offset(watch_from, kill.killed),
            offset(until, kill.killed),
            busy.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
        ));
    }
    // While A was down, B kept transferring.
    let b_served = log
        .events
        .iter()
        .filter(|e| e.instance == 1 && e.answer == "200" && e.answered > kill.killed && e.answered < kill.back)
        .count();
    if b_served == 0 {
        failures.push("no transfer succeeded on app B while app A was down".into());
    }
    failures
}
