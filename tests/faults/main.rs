//! Faults, with real processes: a SecantusDB keeping its data on disk and two
//! instances of the `paisa` binary over it, under a steady load of random
//! transfers sent alternately to both. Mid-load one app instance is killed
//! with SIGKILL and restarted, then the database is killed with SIGKILL and
//! restarted on the same port and storage. Every transfer carries its own
//! `Idempotency-Key`, and a request whose outcome is unknown (connection
//! error, timeout, 503) is sent again later with the same key until it gets a
//! definite answer, as a real client would; so at the end the ledger must
//! hold exactly the transfers reported successful, money must be conserved
//! and no balance negative. On the way: the apps never crash and never answer
//! a 5xx other than 503; transfers flow again within seconds of the killed
//! instance's return; while the database is down the apps answer 503, fast;
//! and they serve again within seconds of its return. Then both stop
//! gracefully on SIGTERM. Throughout, a few users keep live streams open,
//! reconnecting to the other instance when theirs dies: each must hear of
//! every entry of its account exactly once.
//!
//! One test, because every phase shares the same processes and the same
//! load: this file is the harness (the processes, the database, the load
//! clients, the consistent reads) and the test, which runs the phases in
//! order and then checks what each proves, one file per proof:
//!
//! - `survives_an_app_kill.rs`: one instance SIGKILLed and restarted; the
//!   other keeps transferring, and the restarted one is back to normal
//!   within seconds.
//! - `fails_fast_through_a_database_outage.rs`: the database SIGKILLed and
//!   restarted; meanwhile every answer is a fast 503 and no app exits, and
//!   both serve again within seconds of its return.
//! - `money_stays_exact.rs`: after the load, the ledger holds exactly the
//!   transfers reported successful, money is conserved, `paisa audit`
//!   passes, every snapshot read summed right, no answer was undocumented.
//! - `live_streams_hear_every_entry_once.rs`: the live listeners, and each
//!   heard every entry of its account exactly once.
//! - `stops_gracefully.rs`: SIGTERM with live streams open stops both apps
//!   cleanly within the limit.
//! - `figures.rs`: what the run measured, printed.
//!
//! `cargo test --features ssr --test faults -- --nocapture` prints the figures.

#![cfg(feature = "ssr")]

#[path = "../common/mod.rs"]
mod common;
mod fails_fast_through_a_database_outage;
mod figures;
mod live_streams_hear_every_entry_once;
mod money_stays_exact;
mod stops_gracefully;
mod survives_an_app_kill;

use common::db::{balances, set_balance};
use futures::TryStreamExt;
use live_streams_hear_every_entry_once as listeners;
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::options::{ReadConcern, TransactionOptions};
use paisa::server::auth::sessions::{Device, SessionStore};
use paisa::server::auth::tokens::Tokens;
use paisa::server::bank::passwords::Passwords;
use paisa::server::bank::Bank;
use paisa::server::db;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Users the load moves money between.
const USERS: usize = 20;
/// Users only the probes use (two pairs, one per instance), so a probe never
/// waits behind the load for its accounts and measures the app alone.
const PROBES: usize = 4;
/// Concurrent clients of the load.
const CLIENTS: usize = 12;
/// Load users whose live streams are followed throughout.
const LISTENERS: usize = 6;
/// Unknown outcomes a client keeps before it only retries them.
const MAX_PENDING: usize = 8;
/// Per request. Above the app's own limits (transactions 8 s, requests 10 s)
/// so that their answer arrives first; a client timeout means a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the database stays down before it is started again.
const OUTAGE: Duration = Duration::from_secs(5);
/// Within this time of the database accepting connections again, both
/// instances must be healthy and have completed a transfer.
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);
/// While the database is down, every API request and health check must be
/// answered, with a 503, within this (counting only time spent in the outage).
const FAIL_FAST_LIMIT: Duration = Duration::from_secs(5);
/// After the killed instance is healthy again, transfers must be flowing
/// normally (no 503) within APP_SETTLE, as checked over the next APP_WATCH.
const APP_SETTLE: Duration = Duration::from_secs(3);
const APP_WATCH: Duration = Duration::from_secs(7);
/// A graceful shutdown (SIGTERM) must complete within this.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);
/// After the load stops, how long clients may retry to resolve unknown outcomes.
const DRAIN_LIMIT: Duration = Duration::from_secs(40);
const SECRET: &str = "faults-test-jwt-secret-that-is-longer-than-32-bytes";

const PHASES: [&str; 7] = [
    "1 warm-up",
    "2 app A killed",
    "3 app A back",
    "4 db down",
    "5 db recovering",
    "6 after",
    "7 drain",
];
const WARM_UP: usize = 0;
const APP_DOWN: usize = 1;
const APP_BACK: usize = 2;
const DB_DOWN: usize = 3;
const DB_RECOVERING: usize = 4;
const AFTER: usize = 5;
const DRAIN: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_stay_exact_through_app_kills_and_a_database_outage() {
    let test_start = Instant::now();
    // Declared first, dropped last: after every process below is gone.
    let dir = TempDir::new();
    let (db_port, app_ports) = {
        let listeners: Vec<_> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        (ports[0], [ports[1], ports[2]])
    };

    // ----- database and users ------------------------------------------------
    let mut database = Database::new(dir.path(), db_port);
    database.spawn();
    database
        .wait_accepting(Duration::from_secs(60))
        .await
        .expect("SecantusDB starts (run scripts/setup)");
    let db_name = format!("faults_{}", std::process::id());
    let (client, mdb) = db::connect(&database.uri(), &db_name).await.expect("connect");
    paisa::server::start::ensure_indexes(&mdb).await.expect("indexes");
    let bank = Bank::new(client.clone(), &mdb, Passwords::new(1));
    bank.migrate().await.expect("the issuer");
    let seeds: Vec<_> = (0..USERS + PROBES)
        .map(|i| {
            let (first, email) = if i < USERS {
                (format!("Load{i}"), format!("load{i}@faults.example.com"))
            } else {
                (format!("Probe{i}"), format!("probe{i}@faults.example.com"))
            };
            common::seed(email, &first, "Faults")
        })
        .collect();
    let ids = bank.import(&seeds).await.expect("seed users");
    // Probe senders pay 1 paisa at a time: fund them so they never run dry.
    for probe in [USERS, USERS + 2] {
        set_balance(&mdb, ids[probe], 100_000).await;
    }
    let initial = balances(&mdb).await;
    let total: i64 = initial.values().sum();
    assert_eq!(initial.len(), USERS + PROBES);

    // ----- two app instances -------------------------------------------------
    let mut apps = [
        App::new("A", dir.path(), app_ports[0], database.uri(), &db_name),
        App::new("B", dir.path(), app_ports[1], database.uri(), &db_name),
    ];
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for app in apps.iter_mut() {
        app.spawn();
    }
    for app in apps.iter_mut() {
        let took = app
            .wait_healthy(&http, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        println!("app {} healthy {took:?} after start", app.name);
    }

    // Tokens as signing in would give: a session each, in the shared
    // database, signed with the apps' shared secret.
    let tokens = Tokens::new(SECRET.as_bytes(), Duration::from_secs(3600)).unwrap();
    let sessions = SessionStore::new(&mdb, tokens.ttl(), paisa::server::changes::Trust::never())
        .open_many(&ids, &Device::default())
        .await
        .expect("sessions");
    let users: Vec<User> = ids
        .iter()
        .zip(sessions)
        .map(|(id, session)| User {
            id: *id,
            token: tokens.issue(*id, session).expect("a token"),
        })
        .collect();

    let ctx = Arc::new(Ctx {
        http: http.clone(),
        bases: [apps[0].base.clone(), apps[1].base.clone()],
        users,
        turn: AtomicUsize::new(0),
        probe_keys: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        phase: AtomicUsize::new(WARM_UP),
        log: Mutex::new(Log::default()),
    });

    // Live streams, open before the first transfer.
    let listening = listeners::Listeners::start(
        ctx.bases.clone(),
        ctx.users[..LISTENERS].iter().map(|u| (u.id, u.token.clone())).collect(),
    );
    assert!(
        listening.wait_connected(Duration::from_secs(10)).await,
        "live streams open"
    );

    // ----- the phases, in order, under load --------------------------------------
    let load = Load::start(&ctx, &client, &mdb, total);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let app_kill = survives_an_app_kill::run(&ctx, &mut apps, &http).await;
    let mut outage = fails_fast_through_a_database_outage::run(&ctx, &mut database, &mut apps).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let drained = load.drain(&ctx, std::mem::take(&mut outage.probe_unknown)).await;
    // The last entries' events are on their way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let heard = listening.stop().await;

    // ----- what each phase proves ------------------------------------------------
    let books = money_stays_exact::Books::read(&mdb).await;
    // Every task is done: take the record out of its lock.
    let log = std::mem::take(&mut *ctx.log.lock().unwrap());
    let mut failures: Vec<String> = Vec::new();
    failures.extend(money_stays_exact::check(
        &books,
        &log,
        &initial,
        total,
        &ctx,
        &drained.reads,
        &database.uri(),
        &db_name,
    ));
    failures.extend(listeners::check_all(&heard, &books));
    failures.extend(fails_fast_through_a_database_outage::check(&outage, &log, &apps));
    failures.extend(survives_an_app_kill::check(&app_kill, &log, outage.killed));
    figures::print(&figures::Run {
        log: &log,
        total,
        books: &books,
        drained: &drained,
        app_kill: &app_kill,
        outage: &outage,
        heard: &heard,
        apps: &apps,
    });
    failures.extend(stops_gracefully::run(ctx, http, &mut apps).await);

    drop(client);
    database.stop(sys::SIGTERM, Duration::from_secs(10));
    println!("whole test: {:.1?}", test_start.elapsed());

    if !failures.is_empty() {
        for app in &apps {
            app.print_logs();
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The load clients and the consistent-read sampler, running.
struct Load {
    start: Instant,
    clients: Vec<tokio::task::JoinHandle<()>>,
    sampler: tokio::task::JoinHandle<Reads>,
}

/// The load, stopped and drained.
struct Drained {
    start: Instant,
    /// From the load's start to its stop.
    time: Duration,
    end: Instant,
    /// From the stop to every unknown outcome resolved (or given up).
    resolved_in: Duration,
    reads: Reads,
}

impl Load {
    fn start(ctx: &Arc<Ctx>, client: &mongodb::Client, mdb: &mongodb::Database, total: i64) -> Load {
        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(load_client(ctx.clone(), c)))
            .collect();
        let sampler = tokio::spawn(consistent_reads(ctx.clone(), client.clone(), mdb.clone(), total));
        Load {
            start,
            clients,
            sampler,
        }
    }

    /// Stops the load and resolves every unknown outcome: the clients'
    /// own, and the probes' left from the outage (`probe_unknown`).
    async fn drain(self, ctx: &Ctx, probe_unknown: Vec<Job>) -> Drained {
        ctx.set_phase(DRAIN);
        ctx.stop.store(true, Ordering::Relaxed);
        let load_time = self.start.elapsed();
        let load_end = Instant::now();
        for client in self.clients {
            client.await.expect("a load client panicked");
        }
        for mut job in probe_unknown {
            let instance = job.probe_instance();
            let deadline = Instant::now() + DRAIN_LIMIT;
            while !ctx.transfer(&mut job, instance, "probe").await.definite {
                if Instant::now() > deadline {
                    ctx.log.lock().unwrap().unresolved.push(job.clone());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let reads = self.sampler.await.expect("the consistent-read sampler panicked");
        Drained {
            start: self.start,
            time: load_time,
            end: load_end,
            resolved_in: self.start.elapsed() - load_time,
            reads,
        }
    }
}

// ----- the load -----------------------------------------------------------------

struct User {
    id: ObjectId,
    token: String,
}

/// One transfer, as a client keeps it until it has a definite answer.
#[derive(Clone, Debug)]
struct Job {
    from: usize,
    to: usize,
    paise: i64,
    key: String,
    sends: u32,
}

impl Job {
    /// Probe pairs: USERS → USERS+1 through A, USERS+2 → USERS+3 through B.
    fn probe_instance(&self) -> usize {
        (self.from - USERS) / 2
    }
}

struct Ctx {
    http: reqwest::Client,
    bases: [String; 2],
    users: Vec<User>,
    turn: AtomicUsize,
    probe_keys: AtomicUsize,
    stop: AtomicBool,
    phase: AtomicUsize,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    requests: u64,
    retries: u64,
    /// (phase, route, answer) → count; an answer is a status or an error kind.
    answers: BTreeMap<(usize, &'static str, String), u64>,
    latency: BTreeMap<(usize, &'static str), Latency>,
    jobs: HashMap<(ObjectId, String), Job>,
    /// Definite outcomes by (sender, key); a success with the transfer id if
    /// the API returns one.
    succeeded: HashMap<(ObjectId, String), Option<String>>,
    insufficient: HashSet<(ObjectId, String)>,
    success_times: Vec<Instant>,
    /// Every API request: when sent, when answered, through which instance.
    events: Vec<Event>,
    unresolved: Vec<Job>,
    anomalies: Vec<String>,
}

struct Event {
    route: &'static str,
    instance: usize,
    sent: Instant,
    answered: Instant,
    answer: String,
}

#[derive(Default)]
struct Latency {
    count: u32,
    total: Duration,
    max: Duration,
}

impl Latency {
    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.total += d;
        self.max = self.max.max(d);
    }

    fn mean(&self) -> Duration {
        self.total / self.count.max(1)
    }
}

struct Reply {
    status: Option<u16>,
    /// Success or a refusal: not to be sent again.
    definite: bool,
}

impl Ctx {
    fn set_phase(&self, phase: usize) {
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// The next instance, round robin.
    fn next_instance(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed) % 2
    }

    fn register(&self, job: &Job) {
        let key = (self.users[job.from].id, job.key.clone());
        self.log.lock().unwrap().jobs.insert(key, job.clone());
    }

    /// A new 1-paisa transfer on the probe pair of `instance`.
    fn probe_job(&self, instance: usize) -> Job {
        let n = self.probe_keys.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            from: USERS + 2 * instance,
            to: USERS + 2 * instance + 1,
            paise: 1,
            key: format!("probe-{instance}-{n}"),
            sends: 0,
        };
        self.register(&job);
        job
    }

    /// Sends a new probe through `instance`, again with its key until the
    /// answer is definite; returns how long that took, and the answer.
    async fn probe_until_definite(&self, instance: usize, limit: Duration) -> (Duration, Option<u16>) {
        let start = Instant::now();
        let mut job = self.probe_job(instance);
        loop {
            let reply = self.transfer(&mut job, instance, "probe").await;
            if reply.definite || start.elapsed() > limit {
                if !reply.definite {
                    self.log.lock().unwrap().unresolved.push(job);
                }
                return (start.elapsed(), reply.status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// POST /account/transfer for `job` through `instance`; records the answer.
    async fn transfer(&self, job: &mut Job, instance: usize, route: &'static str) -> Reply {
        let phase = self.phase.load(Ordering::Relaxed);
        let from = &self.users[job.from];
        let body = format!(
            r#"{{"to":"{}","amount":{}.{:02}}}"#,
            self.users[job.to].id.to_hex(),
            job.paise / 100,
            job.paise % 100
        );
        job.sends += 1;
        let started = Instant::now();
        let sent = self
            .http
            .post(format!("{}/api/v1/account/transfer", self.bases[instance]))
            .bearer_auth(&from.token)
            .header("Idempotency-Key", &job.key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        let (status, request_id, text) = read_answer(sent).await;
        let latency = started.elapsed();

        let key = (from.id, job.key.clone());
        let mut log = self.log.lock().unwrap();
        log.requests += 1;
        if job.sends > 1 {
            log.retries += 1;
        }
        let answer = status.map_or_else(|e| e.to_owned(), |s| s.to_string());
        log.events.push(Event {
            route,
            instance,
            sent: started,
            answered: started + latency,
            answer: answer.clone(),
        });
        *log.answers.entry((phase, route, answer)).or_default() += 1;
        log.latency.entry((phase, route)).or_default().add(latency);
        let context = format!(
            "[{}] {route} via {} key {} (send {}) request id {request_id} after {latency:.2?}",
            PHASES[phase],
            ["A", "B"][instance],
            job.key,
            job.sends
        );
        let message = serde_json::from_str::<Value>(&text).ok();
        let message = message.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str);
        let definite = match status {
            Ok(200) => {
                if message != Some("Transfer successful") {
                    log.anomalies.push(format!("{context}: 200 {text}"));
                }
                let id = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                    ["transferId", "id"]
                        .iter()
                        .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
                });
                if log.succeeded.insert(key.clone(), id).is_some() {
                    log.anomalies.push(format!("{context}: success reported twice"));
                }
                if log.insufficient.contains(&key) {
                    log.anomalies
                        .push(format!("{context}: success after insufficient balance"));
                }
                log.success_times.push(Instant::now());
                true
            }
            Ok(400) if message == Some("Insufficient balance") => {
                log.insufficient.insert(key);
                true
            }
            // Unavailable, or the same key still in flight: try again later.
            Ok(409 | 503) => false,
            // Any other 5xx is a bug; its outcome is unknown, so retry it too
            // (a client would), to keep the ledger accounting exact.
            Ok(s) if s >= 500 => {
                log.anomalies.push(format!("{context}: {s} {text}"));
                false
            }
            Ok(s) => {
                log.anomalies.push(format!("{context}: {s} {text}"));
                true
            }
            Err(_) => false,
        };
        Reply {
            status: status.ok(),
            definite,
        }
    }

    /// GET /account/balance: the reads mixed into the load.
    async fn balance(&self, user: usize, instance: usize) {
        let phase = self.phase.load(Ordering::Relaxed);
        let started = Instant::now();
        let sent = self
            .http
            .get(format!("{}/api/v1/account/balance", self.bases[instance]))
            .bearer_auth(&self.users[user].token)
            .send()
            .await;
        let (status, request_id, text) = read_answer(sent).await;
        let latency = started.elapsed();
        let mut log = self.log.lock().unwrap();
        log.requests += 1;
        let answer = status.map_or_else(|e| e.to_owned(), |s| s.to_string());
        log.events.push(Event {
            route: "balance",
            instance,
            sent: started,
            answered: started + latency,
            answer: answer.clone(),
        });
        *log.answers.entry((phase, "balance", answer)).or_default() += 1;
        log.latency.entry((phase, "balance")).or_default().add(latency);
        let balance = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("balance").and_then(Value::as_f64));
        let ok = match status {
            Ok(200) => balance.is_some_and(|b| b >= 0.0),
            Ok(503) | Err(_) => true,
            Ok(_) => false,
        };
        if !ok {
            log.anomalies.push(format!(
                "[{}] balance via {} request id {request_id}: {status:?} {text}",
                PHASES[phase],
                ["A", "B"][instance]
            ));
        }
    }

    /// GET /healthz; the answer and how long it took.
    async fn health(&self, instance: usize) -> (Result<u16, &'static str>, Duration) {
        let phase = self.phase.load(Ordering::Relaxed);
        let started = Instant::now();
        let sent = self.http.get(format!("{}/healthz", self.bases[instance])).send().await;
        let (status, _, text) = read_answer(sent).await;
        let latency = started.elapsed();
        let mut log = self.log.lock().unwrap();
        let answer = status.map_or_else(|e| e.to_owned(), |s| s.to_string());
        *log.answers.entry((phase, "healthz", answer)).or_default() += 1;
        log.latency.entry((phase, "healthz")).or_default().add(latency);
        if status.is_ok_and(|s| s != 200 && s != 503) {
            log.anomalies.push(format!(
                "[{}] healthz via {}: {status:?} {text}",
                PHASES[phase],
                ["A", "B"][instance]
            ));
        }
        (status, latency)
    }
}

/// Status (or the kind of failure), request id and body of an answer.
async fn read_answer(sent: reqwest::Result<reqwest::Response>) -> (Result<u16, &'static str>, String, String) {
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let id = response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            match response.text().await {
                Ok(text) => (Ok(status), id, text),
                Err(e) => (Err(error_kind(&e, "body error")), id, String::new()),
            }
        }
        Err(e) => (Err(error_kind(&e, "connection error")), "-".into(), String::new()),
    }
}

fn error_kind(e: &reqwest::Error, otherwise: &'static str) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else {
        otherwise
    }
}

/// One client: random transfers between the load users (and a few balance
/// reads), each to the next instance; unknown outcomes are sent again later
/// with the same key. When told to stop, resolves what is still unknown.
async fn load_client(ctx: Arc<Ctx>, me: usize) {
    let mut rng = StdRng::seed_from_u64(0x5eed + me as u64);
    let mut pending: Vec<(Instant, Job)> = Vec::new();
    let mut n = 0;
    while !ctx.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let due = (0..pending.len())
            .filter(|&i| pending[i].0 <= now)
            .min_by_key(|&i| pending[i].0);
        let mut job = match due {
            Some(i) => pending.swap_remove(i).1,
            None if pending.len() >= MAX_PENDING => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            None if rng.gen_ratio(1, 6) => {
                ctx.balance(rng.gen_range(0..USERS), ctx.next_instance()).await;
                continue;
            }
            None => {
                n += 1;
                let from = rng.gen_range(0..USERS);
                let to = (from + rng.gen_range(1..USERS)) % USERS;
                let job = Job {
                    from,
                    to,
                    // ₹0.01 to ₹2,500: now and then more than the sender has.
                    paise: rng.gen_range(1..=250_000),
                    key: format!("load-{me}-{n}"),
                    sends: 0,
                };
                ctx.register(&job);
                job
            }
        };
        if !ctx.transfer(&mut job, ctx.next_instance(), "transfer").await.definite {
            pending.push((Instant::now() + retry_delay(&mut rng, job.sends), job));
        }
    }
    let deadline = Instant::now() + DRAIN_LIMIT;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            ctx.log
                .lock()
                .unwrap()
                .unresolved
                .extend(pending.into_iter().map(|(_, j)| j));
            return;
        }
        let next = (0..pending.len()).min_by_key(|&i| pending[i].0).unwrap_or(0);
        let (due, mut job) = pending.swap_remove(next);
        tokio::time::sleep_until(due.into()).await;
        if !ctx.transfer(&mut job, ctx.next_instance(), "transfer").await.definite {
            pending.push((Instant::now() + retry_delay(&mut rng, job.sends), job));
        }
    }
}

/// Jittered, growing: 100 ms to 1.6 s.
fn retry_delay(rng: &mut StdRng, sends: u32) -> Duration {
    let cap = 100u64 << sends.min(4);
    Duration::from_millis(rng.gen_range(cap / 2..=cap))
}

#[derive(Default)]
struct Reads {
    ok: u32,
    failed: u32,
    bad: Vec<String>,
}

/// Jepsen's bank reads: every snapshot of all accounts, taken while the load
/// runs, sums to the same total with nothing negative.
async fn consistent_reads(ctx: Arc<Ctx>, client: mongodb::Client, mdb: mongodb::Database, total: i64) -> Reads {
    let mut reads = Reads::default();
    while !ctx.stop.load(Ordering::Relaxed) {
        let read = async {
            let mut session = client.start_session().await?;
            let options = TransactionOptions::builder()
                .read_concern(ReadConcern::snapshot())
                .build();
            session.start_transaction().with_options(options).await?;
            // The users' accounts: the issuer's holds minus what they do.
            let mut cursor = mdb
                .collection::<Document>("accounts")
                .find(doc! { "userId": { "$ne": paisa::server::bank::journal::ISSUER } })
                .session(&mut session)
                .await?;
            let docs: Vec<Document> = cursor.stream(&mut session).try_collect().await?;
            session.commit_transaction().await?;
            mongodb::error::Result::Ok(docs)
        };
        match tokio::time::timeout(Duration::from_secs(5), read).await {
            Ok(Ok(docs)) => {
                reads.ok += 1;
                let values: Vec<i64> = docs.iter().filter_map(|d| d.get_i64("balance").ok()).collect();
                let sum: i64 = values.iter().sum();
                if values.len() != USERS + PROBES || sum != total || values.iter().any(|b| *b < 0) {
                    reads.bad.push(format!(
                        "[{}] {} accounts summing to {sum} (expected {total}), min {:?}",
                        PHASES[ctx.phase.load(Ordering::Relaxed)],
                        values.len(),
                        values.iter().min()
                    ));
                }
            }
            _ => reads.failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    reads
}

// ----- processes --------------------------------------------------------------------

/// The SecantusDB server, in its own process group, data in `storage`.
struct Database {
    launcher: PathBuf,
    storage: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Database {
    fn new(dir: &Path, port: u16) -> Database {
        let launcher = common::secantusd();
        assert!(launcher.exists(), "{} not found: run scripts/setup", launcher.display());
        Database {
            launcher,
            storage: dir.join("db"),
            log: dir.join("secantusd.log"),
            port,
            child: None,
        }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the database is already running");
        let log = append(&self.log);
        let mut cmd = Command::new(&self.launcher);
        cmd.args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--log-level", "WARNING", "--sync-on-commit", "--storage-path"])
            .arg(&self.storage)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        sys::isolate(&mut cmd);
        self.child = Some(cmd.spawn().expect("start SecantusDB"));
    }

    /// Waits until the port accepts connections; returns that moment.
    async fn wait_accepting(&mut self, limit: Duration) -> Result<Instant, String> {
        let start = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(Instant::now());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(format!(
                    "SecantusDB exited at start ({status}): {}",
                    tail(&self.log, 30)
                ));
            }
            if start.elapsed() > limit {
                return Err(format!("SecantusDB not accepting after {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signals the whole process group and waits for the server to exit
    /// (SIGKILL if it has not within `limit`).
    fn stop(&mut self, signal: i32, limit: Duration) {
        let Some(mut child) = self.child.take() else { return };
        sys::signal_group(child.id(), signal);
        let start = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > limit {
                sys::signal_group(child.id(), sys::SIGKILL);
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- secantusd log ---\n{}", tail(&self.log, 40));
        }
        self.stop(sys::SIGKILL, Duration::from_secs(5));
    }
}

/// One instance of the real `paisa` binary.
struct App {
    name: &'static str,
    base: String,
    env: Vec<(&'static str, String)>,
    out: PathBuf,
    err: PathBuf,
    child: Option<Child>,
}

impl App {
    fn new(name: &'static str, dir: &Path, port: u16, uri: String, db_name: &str) -> App {
        let data = dir.join(format!("app-{name}"));
        std::fs::create_dir_all(&data).unwrap();
        App {
            name,
            base: format!("http://127.0.0.1:{port}"),
            env: vec![
                ("MONGODB_URI", uri),
                ("MONGODB_DB", db_name.to_owned()),
                ("JWT_SECRET", SECRET.to_owned()),
                ("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}")),
                ("DATA_DIR", data.display().to_string()),
                ("RUST_LOG", "warn".to_owned()),
                // The suite's database is theirs alone: clear what a killed
                // instance left open at once.
                ("END_ALL_SESSIONS_AT_START", "true".to_owned()),
            ],
            out: dir.join(format!("app-{name}.out")),
            err: dir.join(format!("app-{name}.err")),
            child: None,
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "app {} is already running", self.name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paisa"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(append(&self.out))
            .stderr(append(&self.err));
        sys::isolate(&mut cmd);
        self.child = Some(cmd.spawn().expect("start paisa"));
    }

    /// Polls /healthz until 200; returns how long that took.
    async fn wait_healthy(&mut self, http: &reqwest::Client, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            let answer = http
                .get(format!("{}/healthz", self.base))
                .timeout(Duration::from_secs(3))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return Ok(start.elapsed());
            }
            if !self.alive() {
                return Err(format!("app {} exited at start:\n{}", self.name, tail(&self.err, 30)));
            }
            if start.elapsed() > limit {
                return Err(format!("app {} not healthy after {limit:?}", self.name));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL (`Child::kill`), and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the app");
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `limit` for the exit.
    async fn terminate(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        let Some(mut child) = self.child.take() else {
            return Err("not running".into());
        };
        sys::signal(child.id(), sys::SIGTERM);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(status);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running {limit:?} after SIGTERM (killed)"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn print_logs(&self) {
        eprintln!("--- app {} stdout ---\n{}", self.name, tail(&self.out, 40));
        eprintln!("--- app {} stderr ---\n{}", self.name, tail(&self.err, 80));
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        if let Some(mut child) = self.child.take() {
            sys::signal_group(child.id(), sys::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open a log file")
}

/// `t` relative to `from`, signed: "+1.25s", "-0.40s".
fn offset(t: Instant, from: Instant) -> String {
    if t >= from {
        format!("+{:.2?}", t - from)
    } else {
        format!("-{:.2?}", from - t)
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!("paisa-faults-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The two system calls std does not expose: signalling a process group
/// (or a process with something other than SIGKILL), and asking the kernel
/// to kill a child when the test dies.
mod sys {
    use std::os::raw::{c_int, c_ulong};
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    pub const SIGKILL: c_int = 9;
    pub const SIGTERM: c_int = 15;
    const PR_SET_PDEATHSIG: c_int = 1;

    extern "C" {
        fn kill(pid: c_int, sig: c_int) -> c_int;
        fn prctl(option: c_int, ...) -> c_int;
    }

    /// Sends `sig` to the process group whose leader is `leader`.
    pub fn signal_group(leader: u32, sig: c_int) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            kill(-(leader as c_int), sig);
        }
    }

    pub fn signal(pid: u32, sig: c_int) {
        // SAFETY: as above.
        unsafe {
            kill(pid as c_int, sig);
        }
    }

    /// Its own process group (so it can be signalled whole), and SIGKILL from
    /// the kernel when the thread that spawned it ends: even a test killed
    /// from outside, whose Drop guards never run, leaves no process behind.
    /// (So spawn only from the test's own thread, not from a pool thread.)
    pub fn isolate(cmd: &mut Command) {
        cmd.process_group(0);
        // SAFETY: prctl(2) is async-signal-safe and nothing is allocated
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                prctl(PR_SET_PDEATHSIG, SIGKILL as c_ulong);
                Ok(())
            });
        }
    }
}
