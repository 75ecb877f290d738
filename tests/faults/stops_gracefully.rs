//! The end: both apps, still running after the load and its faults, stop
//! on SIGTERM with exit status 0 within `SHUTDOWN_LIMIT`, with a live
//! stream open on each (the drain must not wait for streams).

use crate::{App, Ctx, SHUTDOWN_LIMIT};
use std::sync::Arc;
use std::time::Instant;

/// Opens a stream on each app, lets go of the load's clients, checks both
/// apps still run, and stops them; the failures.
pub async fn run(ctx: Arc<Ctx>, http: reqwest::Client, apps: &mut [App; 2]) -> Vec<String> {
    let mut failures = Vec::new();
    // With a live stream open on each: the drain must not wait for them.
    let mut open_streams = Vec::new();
    for base in &ctx.bases {
        let stream = reqwest::Client::new()
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(&ctx.users[0].token)
            .send()
            .await;
        match stream {
            Ok(s) if s.status() == 200 => open_streams.push(s),
            other => failures.push(format!("no live stream before shutdown: {other:?}")),
        }
    }
    drop(ctx);
    drop(http);
    let alive_at_end: Vec<bool> = apps.iter_mut().map(App::alive).collect();
    for (i, alive) in alive_at_end.iter().enumerate() {
        if !alive {
            failures.push(format!("app {} is not running at the end of the load", apps[i].name));
        }
    }
    for app in apps.iter_mut() {
        let stopping = Instant::now();
        match app.terminate(SHUTDOWN_LIMIT).await {
            Ok(status) if status.success() => {
                println!(
                    "app {} stopped on SIGTERM in {:.2?} ({status})",
                    app.name,
                    stopping.elapsed()
                )
            }
            Ok(status) => failures.push(format!("app {}: SIGTERM exit status {status}", app.name)),
            Err(e) => failures.push(format!("app {}: {e}", app.name)),
        }
    }
    drop(open_streams);
    failures
}
