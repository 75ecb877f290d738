//! Fault 2: the database is SIGKILLed mid-load, left down for `OUTAGE`, and
//! restarted on the same port and storage. Proves that while it is down
//! every health check and API request is answered with a 503 within
//! `FAIL_FAST_LIMIT` (probe transfers are answered, not left waiting) and
//! neither app exits; and that within `RECOVERY_LIMIT` of its return both
//! instances are healthy and complete a transfer.

use crate::{
    offset, sys, App, Ctx, Database, Job, Log, AFTER, DB_DOWN, DB_RECOVERING, FAIL_FAST_LIMIT, OUTAGE, RECOVERY_LIMIT,
};
use futures::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Database kills (SIGKILL, then a restart) in this phase.
pub const KILLS: u32 = 1;

/// A health check: when sent, the answer, how long it took.
pub type HealthCheck = (Instant, Result<u16, &'static str>, Duration);

/// What happened in the phase.
pub struct Outage {
    /// When the database was SIGKILLed.
    pub killed: Instant,
    /// When it accepted connections again.
    pub back: Instant,
    /// From the kill to accepting again.
    pub took: Duration,
    /// Whether each app was running at the end of the outage.
    pub alive: Vec<bool>,
    /// Per app, since the database accepted again: until healthy, until a
    /// probe transfer succeeded (`None`: not within 30 s).
    pub recovery: Vec<(Option<Duration>, Option<Duration>)>,
    /// Per app, each health check in the outage.
    pub health_seen: Vec<Vec<HealthCheck>>,
    /// Probe transfers sent in the outage still without a definite answer:
    /// resolved when the load drains.
    pub probe_unknown: Vec<Job>,
}

/// Kills the database; for `OUTAGE` watches both apps' health and sends
/// them probe transfers; restarts it; waits for both apps to be healthy and
/// transferring again.
pub async fn run(ctx: &Arc<Ctx>, database: &mut Database, apps: &mut [App; 2]) -> Outage {
    ctx.set_phase(DB_DOWN);
    let killed = Instant::now();
    database.stop(sys::SIGKILL, Duration::from_secs(10));
    let watch_until = killed + OUTAGE;
    // Watchers in their own tasks: the database comes back after OUTAGE
    // whatever they are waiting for.
    let watch_health: Vec<_> = (0..2)
        .map(|i| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while Instant::now() < watch_until {
                    let sent = Instant::now();
                    let (answer, latency) = ctx.health(i).await;
                    seen.push((sent, answer, latency));
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                seen
            })
        })
        .collect();
    let watch_probes: Vec<_> = (0..2)
        .map(|i| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut unknown = Vec::new();
                while Instant::now() < watch_until {
                    let mut job = ctx.probe_job(i);
                    if !ctx.transfer(&mut job, i, "probe").await.definite {
                        unknown.push(job);
                    }
                    // Fast 503s must not turn the watch into a flood.
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                unknown
            })
        })
        .collect();
    tokio::time::sleep_until(watch_until.into()).await;
    let alive: Vec<bool> = apps.iter_mut().map(App::alive).collect();
    database.spawn();
    let back = database
        .wait_accepting(Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("SecantusDB restarts: {e}"));
    let took = back - killed;
    ctx.set_phase(DB_RECOVERING);
    let recovery = join_all((0..2).map(|i| {
        let ctx = ctx.clone();
        async move {
            let healthy = async {
                loop {
                    if ctx.health(i).await.0 == Ok(200) {
                        return Some(back.elapsed());
                    }
                    if back.elapsed() > Duration::from_secs(30) {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let transferred = async {
                let (_, status) = ctx.probe_until_definite(i, Duration::from_secs(30)).await;
                (status == Some(200)).then(|| back.elapsed())
            };
            tokio::join!(healthy, transferred)
        }
    }))
    .await;
    ctx.set_phase(AFTER);
    let mut health_seen = Vec::new();
    for watcher in watch_health {
        health_seen.push(watcher.await.expect("a health watcher panicked"));
    }
    let mut probe_unknown: Vec<Job> = Vec::new();
    for watcher in watch_probes {
        probe_unknown.extend(watcher.await.expect("a probe watcher panicked"));
    }
    Outage {
        killed,
        back,
        took,
        alive,
        recovery,
        health_seen,
        probe_unknown,
    }
}

/// The phase's failures, judged from what it saw and the requests `log`.
pub fn check(outage: &Outage, log: &Log, apps: &[App; 2]) -> Vec<String> {
    let mut failures = Vec::new();
    let (db_killed, db_back) = (outage.killed, outage.back);
    // While the database was down: health checks and every API request a
    // fast 503, apps alive. A request overlapping the outage may wait in it
    // at most FAIL_FAST_LIMIT, and one answered inside it must be a 503
    // (past a moment's grace for answers already on their way at the kill).
    let grace = Duration::from_millis(500);
    for (i, seen) in outage.health_seen.iter().enumerate() {
        let name = apps[i].name;
        // A check answered after the database was back may rightly be 200.
        let inside: Vec<_> = seen.iter().filter(|(sent, _, l)| *sent + *l < db_back).collect();
        let wrong: Vec<_> = inside
            .iter()
            .filter(|(_, a, l)| *a != Ok(503) || *l > FAIL_FAST_LIMIT)
            .map(|(sent, a, l)| format!("{a:?} in {l:.2?} at +{:.2?}", *sent - db_killed))
            .collect();
        if inside.is_empty() || !wrong.is_empty() {
            failures.push(format!("app {name}: /healthz in the outage not a fast 503: {wrong:?}"));
        }
    }
    let mut not_fast = Vec::new();
    for e in log.events.iter().filter(|e| e.sent < db_back && e.answered > db_killed) {
        let waited = e.answered.min(db_back).saturating_duration_since(e.sent.max(db_killed));
        let inside = e.answered < db_back && e.answered > db_killed + grace;
        if waited > FAIL_FAST_LIMIT || (inside && e.answer != "503") {
            not_fast.push(format!(
                "{} via {} sent at {} from the kill: {} after {:.2?}{}",
                e.route,
                ["A", "B"][e.instance],
                offset(e.sent, db_killed),
                e.answer,
                e.answered - e.sent,
                if e.answered >= db_back {
                    " (answered after the database was back)"
                } else {
                    ""
                }
            ));
        }
    }
    if !log
        .events
        .iter()
        .any(|e| e.route == "probe" && e.sent >= db_killed && e.answered < db_back)
    {
        failures.push("no probe transfer was answered while the database was down (they waited for it)".into());
    }
    if !not_fast.is_empty() {
        failures.push(format!(
            "{} API requests during the database outage were not a fast 503 (limit {FAIL_FAST_LIMIT:?}):\n  {}",
            not_fast.len(),
            not_fast.iter().take(20).cloned().collect::<Vec<_>>().join("\n  ")
        ));
    }
    for (i, alive) in outage.alive.iter().enumerate() {
        if !alive {
            failures.push(format!("app {} exited during the database outage", apps[i].name));
        }
    }
    // Recovery: both instances healthy and transferring within the limit.
    for (i, (healthy, transferred)) in outage.recovery.iter().enumerate() {
        let name = apps[i].name;
        if !healthy.is_some_and(|t| t <= RECOVERY_LIMIT) || !transferred.is_some_and(|t| t <= RECOVERY_LIMIT) {
            failures.push(format!(
                "app {name} recovered too slowly after the database came back: healthy after {healthy:?}, \
                 a transfer after {transferred:?} (limit {RECOVERY_LIMIT:?})"
            ));
        }
    }
    failures
}
