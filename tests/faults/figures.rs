//! What the run measured, printed (`--nocapture`): the load and its
//! outcomes, the answers while each fault was on, the outage and the
//! recovery, answers by phase, and a per-second timeline. Proves nothing by
//! itself; the checks are in the other files.

use crate::fails_fast_through_a_database_outage::{self as outage, Outage};
use crate::live_streams_hear_every_entry_once::Heard;
use crate::money_stays_exact::Books;
use crate::survives_an_app_kill::{self as app_kill, AppKill};
use crate::{App, Drained, Event, Log, APP_DOWN, CLIENTS, DB_DOWN, DB_RECOVERING, PHASES};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything the figures are made of.
pub struct Run<'a> {
    pub log: &'a Log,
    /// The money at the start, in paise.
    pub total: i64,
    pub books: &'a Books,
    pub drained: &'a Drained,
    pub app_kill: &'a AppKill,
    pub outage: &'a Outage,
    pub heard: &'a [Heard],
    pub apps: &'a [App; 2],
}

pub fn print(run: &Run) {
    let Run {
        log,
        total,
        books,
        drained,
        app_kill,
        outage,
        heard,
        apps,
    } = *run;
    let (db_killed, db_back) = (outage.killed, outage.back);
    let (app_killed, app_back) = (app_kill.killed, app_kill.back);
    let (load_start, load_time, load_end) = (drained.start, drained.time, drained.end);
    let reads = &drained.reads;
    let final_total = books.total();
    // Requests overlapping the outage, by route: how many, the longest wait
    // inside it, the answers.
    let mut outage_waits: BTreeMap<&str, (u32, Duration, BTreeMap<&str, u32>)> = BTreeMap::new();
    for e in log.events.iter().filter(|e| e.sent < db_back && e.answered > db_killed) {
        let waited = e.answered.min(db_back).saturating_duration_since(e.sent.max(db_killed));
        let entry = outage_waits.entry(e.route).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(waited);
        *entry.2.entry(e.answer.as_str()).or_default() += 1;
    }
    let load_back = log
        .success_times
        .iter()
        .filter(|t| **t >= db_back)
        .min()
        .map(|t| *t - db_back);

    let count = |pred: &dyn Fn(&str) -> bool| -> u64 {
        log.answers
            .iter()
            .filter(|((_, r, a), _)| *r != "healthz" && pred(a))
            .map(|(_, n)| n)
            .sum()
    };
    let under_faults: u64 = log
        .answers
        .iter()
        .filter(|((p, r, a), _)| [APP_DOWN, DB_DOWN, DB_RECOVERING].contains(p) && *r != "healthz" && a == "200")
        .map(|(_, n)| n)
        .sum();
    println!();
    println!("===== faults: figures =====");
    println!(
        "load: {CLIENTS} clients over 2 instances for {load_time:.1?}, then {:.1?} to resolve unknown outcomes",
        drained.resolved_in
    );
    println!(
        "transfers: {} attempted (distinct keys), {} HTTP requests ({} retries with the same key)",
        log.jobs.len(),
        log.requests,
        log.retries
    );
    println!(
        "outcomes: {} succeeded, {} insufficient balance, {} unresolved; {} successful answers while a fault was on",
        log.succeeded.len(),
        log.insufficient.len(),
        log.unresolved.len(),
        under_faults
    );
    println!(
        "API answers (transfers, probes, balance reads): {} x 503, {} connection errors, {} timeouts, {} other 5xx",
        count(&|a| a == "503"),
        count(&|a| a.starts_with("connect") || a.starts_with("connection") || a.starts_with("body")),
        count(&|a| a == "timeout"),
        count(&|a| a.starts_with('5') && a != "503"),
    );
    println!(
        "ledger: {} entries; money {} paise before and {} after; consistent reads {} ok, {} failed while down",
        books.ledger.len(),
        total,
        final_total,
        reads.ok,
        reads.failed
    );
    println!(
        "kills survived: {} app SIGKILL (restart to healthy {:.2?}, to a transfer {:.2?}), {} database SIGKILL",
        app_kill::KILLS,
        app_kill.restart,
        app_kill.served,
        outage::KILLS
    );
    println!(
        "outage: {:.2?} from SIGKILL to the database accepting connections again",
        outage.took
    );
    for h in heard {
        println!(
            "live stream of {}: {} events, {} reconnects, refused {:?}",
            h.user,
            h.events.len(),
            h.reconnects,
            h.refusals
        );
    }
    for (i, seen) in outage.health_seen.iter().enumerate() {
        let max = seen.iter().map(|(_, _, l)| *l).max().unwrap_or_default();
        let answers: Vec<String> = seen.iter().map(|(_, a, _)| format!("{a:?}")).collect();
        println!(
            "  app {} /healthz while down: {} (slowest {max:.2?})",
            apps[i].name,
            answers.join(" ")
        );
    }
    for (route, (n, max, answers)) in &outage_waits {
        println!("  {route} requests overlapping the outage: {n}, answers {answers:?}, longest wait in it {max:.2?}");
    }
    for (i, (healthy, transferred)) in outage.recovery.iter().enumerate() {
        println!(
            "recovery of app {} after the database accepted connections: healthy {healthy:.2?}, transfer {transferred:.2?}",
            apps[i].name
        );
    }
    println!("  first successful load transfer after the database came back: {load_back:.2?}");
    println!("answers by phase and route (count, slowest, mean):");
    for (phase, name) in PHASES.iter().enumerate() {
        for route in ["transfer", "balance", "probe", "healthz"] {
            let answers: Vec<String> = log
                .answers
                .iter()
                .filter(|((p, r, _), _)| *p == phase && *r == route)
                .map(|((_, _, a), n)| format!("{a}: {n}"))
                .collect();
            if let Some(l) = log.latency.get(&(phase, route)) {
                println!(
                    "  {name:<16} {route:<9} {}  (slowest {:.2?}, mean {:.2?})",
                    answers.join(", "),
                    l.max,
                    l.mean()
                );
            }
        }
    }
    println!("per second since the load started, by arrival: 200 / 400 / 503 / no answer (API requests)");
    let marks = [
        (app_killed, "app A SIGKILLed"),
        (app_back, "app A healthy again"),
        (db_killed, "database SIGKILLed"),
        (db_back, "database accepting again"),
        (load_end, "load stopped, resolving unknown outcomes"),
    ];
    let last = log.events.iter().map(|e| e.answered).max().unwrap_or(load_end);
    for second in 0..=(last - load_start).as_secs() {
        let from = load_start + Duration::from_secs(second);
        let to = from + Duration::from_secs(1);
        let here: Vec<&Event> = log
            .events
            .iter()
            .filter(|e| e.answered >= from && e.answered < to)
            .collect();
        let n = |pred: &dyn Fn(&str) -> bool| here.iter().filter(|e| pred(&e.answer)).count();
        let events: Vec<&str> = marks
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, m)| *m)
            .collect();
        println!(
            "  {second:>3}s {:>4} {:>4} {:>4} {:>4}  {}",
            n(&|a| a == "200"),
            n(&|a| a == "400"),
            n(&|a| a == "503"),
            n(&|a| !a.starts_with(|c: char| c.is_ascii_digit())),
            events.join(", ")
        );
    }
}
