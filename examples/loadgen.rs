//! Paisa's load generator: seeds users straight into the database, starts a
//! release build of the server on it, and runs each scenario for a fixed time
//! at a fixed concurrency, side by side in one run. `raw-db-transfer` issues
//! the transfer transaction through the driver alone (no HTTP, no app): the
//! ceiling the `transfer` scenario is measured against. `audit` runs the
//! real `paisa audit` binary over the seeded books (optionally with a large
//! journal, `--journal-entries`), and `transfer-during-audit` measures
//! transfers while audits run back to back beside them. `events` holds
//! `--listeners` live streams (`GET /api/v1/events`) open while transfers
//! pay those users, and measures each event's way to its client.
//!
//! `scripts/bench` builds everything and runs this; see `--help`.

use clap::{Parser, ValueEnum};
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use paisa::money::Money;
use paisa::server::auth::tokens::Tokens;
use paisa::server::bank::journal::{ISSUER, MAX_BALANCE};
use paisa::server::bank::passwords::Passwords;
use paisa::server::bank::txn::{self, Retry, TxnStats};
use paisa::server::bank::{Bank, Import};
use paisa::server::{db, embedded::EmbeddedMongo};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Paisa load generator: each scenario for a fixed time at a fixed concurrency")]
struct Args {
    /// Users seeded into the database (search runs over all of them).
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Transfer entries added to the journal after the users (written straight
    /// into the database, with the running totals that keep the books exact).
    #[arg(long, default_value_t = 0)]
    journal_entries: usize,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Clients (requests in flight) per scenario.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Scenarios, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "raw-db-transfer,transfer,transfer-keyed,events,transfer-during-audit,hot-recipient,request-pay,raw-db-balance,balance,raw-db-search,search,signin,audit"
    )]
    scenarios: Vec<Scenario>,
    /// Live streams the `events` scenario holds open, one per user (the
    /// first seeded users; the payers are the others, so there must be more
    /// users than this).
    #[arg(long, default_value_t = 1000)]
    listeners: usize,
    /// The server binary to start (a release build: `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/paisa")]
    server: PathBuf,
    /// A MongoDB replica set to use; by default a SecantusDB is started on a
    /// fresh storage folder. A database named `loadgen_<pid>` is created and dropped.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    mongodb_uri: Option<String>,
    /// The SecantusDB launcher, when no MONGODB_URI is given.
    #[arg(long, env = "SECANTUSD", default_value = ".venv/bin/secantusd-py")]
    secantusd: PathBuf,
    /// Seconds the background audits of `transfer-during-audit` run before
    /// its transfers are measured (an audit reads all accounts first, then
    /// the journal in paced chunks: the lead puts the measurement in the latter).
    #[arg(long, default_value_t = 60)]
    audit_lead: u64,
    /// More arguments for `paisa audit` in the audit scenarios, one string
    /// split on spaces (e.g. "--pace 0").
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    audit_args: String,
    /// Where the markdown table and the JSON results are written.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Scenario {
    /// The transfer transaction through the driver alone.
    RawDbTransfer,
    /// POST /account/transfer between random pairs of users.
    Transfer,
    /// `transfer` as the web app sends it: each with its own
    /// `Idempotency-Key`, so a retry cannot move money twice (a request's
    /// payment has that guarantee by its id).
    TransferKeyed,
    /// `transfer`, while `paisa audit` runs back to back beside it.
    TransferDuringAudit,
    /// `paisa audit --json`, the real binary, run back to back (at least once).
    Audit,
    /// POST /account/transfer from random users to one user.
    HotRecipient,
    /// POST /requests/:id/pay of pending requests (seeded beforehand, one
    /// per requester, between random users): what paying a request costs
    /// against a plain transfer.
    RequestPay,
    /// GET /account/balance of random users.
    Balance,
    /// The balance's point read of an account through the driver alone:
    /// the ceiling `balance` is measured against.
    RawDbBalance,
    /// GET /user/bulk with 1–3 letter name prefixes.
    Search,
    /// The same searches through the driver alone: the database's best
    /// answer to them (the full-name and last-name index ranges, the first
    /// 21 of each by full name, merged), the ceiling `search` is measured
    /// against.
    RawDbSearch,
    /// POST /user/signin of random users.
    Signin,
    /// `--listeners` users each hold GET /events open while the others pay
    /// them (transfers at the `transfer` scenario's concurrency): delivery
    /// latency, the streams' memory, the server's CPU per event.
    Events,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::RawDbTransfer => "raw-db-transfer",
            Scenario::Transfer => "transfer",
            Scenario::TransferKeyed => "transfer-keyed",
            Scenario::TransferDuringAudit => "transfer-during-audit",
            Scenario::Audit => "audit",
            Scenario::HotRecipient => "hot-recipient",
            Scenario::RequestPay => "request-pay",
            Scenario::Balance => "balance",
            Scenario::RawDbBalance => "raw-db-balance",
            Scenario::Search => "search",
            Scenario::RawDbSearch => "raw-db-search",
            Scenario::Signin => "signin",
            Scenario::Events => "events",
        }
    }
}

#[derive(Debug, Serialize)]
struct Outcome {
    scenario: Scenario,
    clients: usize,
    seconds: f64,
    requests: u64,
    errors: u64,
    requests_per_second: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    /// Server process CPU (user + system) per 1,000 requests; none for raw-db.
    server_cpu_seconds_per_1000: Option<f64>,
    /// Server peak resident set during the scenario, MiB.
    server_peak_rss_mib: Option<f64>,
    /// The embedded database's CPU (user + system) during the scenario.
    database_cpu_seconds: Option<f64>,
    /// The database's operations (its `serverStatus` opcounters: inserts,
    /// queries, updates, deletes, getMores, commands) during the scenario.
    database_ops: Option<u64>,
    /// Transaction retries (raw-db only; the app counts its own).
    retries: u64,
    /// The `events` scenario's own measures.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<LiveReport>,
}

const PASSWORD: &str = "loadgen password 1";
const JWT_SECRET: &str = "loadgen-secret-that-is-at-least-32-bytes-long";
/// Every seeded account starts with ₹10,000 and transfers move 1–99 paise,
/// so no run drains an account: every error counted is a real one.
const SEED_BALANCE: Money = Money::from_paise(1_000_000);

const FIRST: &[&str] = &[
    "Aarav", "Aditi", "Akash", "Ananya", "Arjun", "Asha", "Deepa", "Dev", "Divya", "Farhan", "Gaurav", "Ishaan",
    "Isha", "Kabir", "Kavya", "Kiran", "Lakshmi", "Manish", "Meera", "Mohan", "Neha", "Nikhil", "Pooja", "Priya",
    "Rahul", "Ravi", "Riya", "Rohan", "Sahil", "Sana", "Sanjay", "Shreya", "Sneha", "Suresh", "Tanvi", "Uma", "Varun",
    "Vikram", "Yash", "Zoya",
];
const LAST: &[&str] = &[
    "Agarwal",
    "Bhat",
    "Chopra",
    "Das",
    "Desai",
    "Gupta",
    "Iyer",
    "Jain",
    "Joshi",
    "Kapoor",
    "Khan",
    "Kulkarni",
    "Kumar",
    "Malhotra",
    "Menon",
    "Mehta",
    "Mishra",
    "Nair",
    "Pandey",
    "Patel",
    "Pillai",
    "Rao",
    "Reddy",
    "Roy",
    "Saxena",
    "Sen",
    "Shah",
    "Sharma",
    "Singh",
    "Sinha",
    "Srinivasan",
    "Thakur",
    "Trivedi",
    "Verma",
    "Yadav",
];

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let clk_tck = clock_ticks_per_second();
    if args.scenarios.contains(&Scenario::Events) {
        check_for_listeners(&args)?;
    }

    let mut embedded = None;
    let uri = match &args.mongodb_uri {
        Some(uri) => uri.clone(),
        None => {
            let storage = std::env::temp_dir().join(format!("paisa-loadgen-{}", std::process::id()));
            let db = EmbeddedMongo::start(&args.secantusd, &storage).map_err(|e| format!("start SecantusDB: {e}"))?;
            let uri = db.uri();
            embedded = Some((db, storage));
            uri
        }
    };
    let db_name = format!("loadgen_{}", std::process::id());
    let (client, database) = db::connect(&uri, &db_name).await?;
    paisa::server::start::ensure_indexes(&database)
        .await
        .map_err(|e| e.to_string())?;

    let started = Instant::now();
    let users = seed(&client, &database, args.users).await?;
    let seed_users_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded {} users in {seed_users_seconds:.1}s", users.len());
    let started = Instant::now();
    seed_journal(&database, &users, args.journal_entries).await?;
    let seed_journal_seconds = started.elapsed().as_secs_f64();
    if args.journal_entries > 0 {
        eprintln!(
            "seeded {} journal entries in {seed_journal_seconds:.1}s",
            args.journal_entries
        );
    }

    let auditor = Auditor {
        binary: args.server.clone(),
        uri: uri.clone(),
        db: db_name.clone(),
        extra: args.audit_args.split_whitespace().map(str::to_owned).collect(),
        database_pid: embedded.as_ref().and_then(|(db, _)| database_pid(db.port())),
        probe: (tokio::runtime::Handle::current(), probe_client(&uri, &db_name).await?),
        clk_tck,
    };
    let mut server = Server::start(&args.server, &uri, &db_name)?;
    server.wait_healthy().await?;
    // A signed-in session per user, as signing in would leave: stored in the
    // database (the server checks it on every request) and named by a token
    // signed with the server's secret.
    let signer = Tokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(24 * 3600)).map_err(|e| e.to_string())?;
    let ids: Vec<ObjectId> = users.iter().map(|u| u.id).collect();
    let sessions = paisa::server::auth::sessions::SessionStore::new(
        &database,
        signer.ttl(),
        paisa::server::changes::Trust::never(),
    )
    .open_many(&ids, &Default::default())
    .await
    .map_err(|e| format!("sessions: {e}"))?;
    let tokens: Vec<String> = ids
        .iter()
        .zip(sessions)
        .map(|(id, session)| signer.issue(*id, session).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let world = Arc::new(World {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?,
        base: server.base.clone(),
        client: client.clone(),
        accounts: database.collection("accounts"),
        people: database.collection("users"),
        transfers: database.collection("transfers"),
        users,
        tokens,
        requests: std::sync::Mutex::new(Vec::new()),
    });
    // The server's change streams first read everything just written (the
    // sessions above): measure only once it and the database are idle.
    settle(&server, auditor.database_pid, clk_tck).await;
    let idle_rss = server.rss_mib("VmRSS");
    eprintln!("server idle RSS {idle_rss:.1} MiB");

    let duration = Duration::from_secs(args.duration);
    let mut outcomes = Vec::new();
    let mut audits: Vec<AuditRun> = Vec::new();
    for &scenario in &args.scenarios {
        // What the last scenario left (stream backlogs, batched writes) is
        // not this one's cost.
        settle(&server, auditor.database_pid, clk_tck).await;
        let uses_server = !matches!(
            scenario,
            Scenario::RawDbTransfer | Scenario::RawDbBalance | Scenario::RawDbSearch | Scenario::Audit
        );
        // transfer-during-audit: audits back to back on their own thread for
        // the whole scenario, started `--audit-lead` seconds before it (past
        // an audit's accounts read, into its paced journal pass); the one in
        // flight at the end is stopped (the `audit` scenario measures whole runs).
        let background = (scenario == Scenario::TransferDuringAudit).then(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let (auditor, flag) = (auditor.clone(), stop.clone());
            let thread = std::thread::spawn(move || {
                let mut runs = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    let run = auditor.run("during transfers", Some(&flag));
                    eprintln!("{}", audit_row(&run));
                    runs.push(run);
                }
                runs
            });
            (stop, thread)
        });
        if background.is_some() {
            tokio::time::sleep(Duration::from_secs(args.audit_lead)).await;
        }
        if scenario == Scenario::RequestPay {
            seed_requests(&database, &world, REQUESTS_SEEDED).await?;
            settle(&server, auditor.database_pid, clk_tck).await;
        }
        server.reset_peak_rss();
        let cpu_before = server.cpu_ticks();
        let db_cpu_before = auditor.database_cpu_ticks();
        let db_ops_before = database_ops(&world.client).await;
        let (run, clients, live) = match scenario {
            Scenario::Audit => {
                let runs = audit_back_to_back(&auditor, "alone", duration).await;
                let run = Run::of_audits(&runs);
                audits.extend(runs);
                (run, 1, None)
            }
            Scenario::Events => {
                let (run, live) =
                    run_events(&world, &server, &auditor, args.listeners, args.concurrency, duration).await?;
                eprintln!("{}", live_summary(&live));
                (run, args.concurrency, Some(live))
            }
            _ => (
                run_scenario(&world, scenario, args.concurrency, duration).await,
                args.concurrency,
                None,
            ),
        };
        // events: the transfers' window only (not the streams' opening).
        let cpu = match &live {
            Some(live) => live.window_cpu_seconds,
            None => (server.cpu_ticks() - cpu_before) as f64 / clk_tck,
        };
        let (db_cpu, db_ops) = match &live {
            Some(live) => (live.window_database_cpu_seconds, live.window_database_ops),
            None => (
                auditor
                    .database_cpu_ticks()
                    .zip(db_cpu_before)
                    .map(|(a, b)| (a - b) as f64 / clk_tck),
                database_ops(&world.client).await.zip(db_ops_before).map(|(a, b)| a - b),
            ),
        };
        let peak_rss = server.rss_mib("VmHWM");
        if let Some((stop, thread)) = background {
            stop.store(true, Ordering::Relaxed);
            let runs = tokio::task::spawn_blocking(move || thread.join().expect("audits"))
                .await
                .expect("audits");
            audits.extend(runs);
        }
        let outcome = Outcome {
            scenario,
            clients,
            seconds: run.seconds,
            requests: run.latencies_us.len() as u64,
            errors: run.errors,
            requests_per_second: run.latencies_us.len() as f64 / run.seconds,
            p50_ms: percentile(&run.latencies_us, 0.50),
            p90_ms: percentile(&run.latencies_us, 0.90),
            p99_ms: percentile(&run.latencies_us, 0.99),
            server_cpu_seconds_per_1000: uses_server.then(|| cpu * 1000.0 / run.latencies_us.len().max(1) as f64),
            server_peak_rss_mib: uses_server.then_some(peak_rss),
            database_cpu_seconds: db_cpu,
            database_ops: db_ops,
            retries: run.retries,
            live,
        };
        eprintln!("{}", row(&outcome));
        outcomes.push(outcome);
    }

    // The books after everything above: seeding, every scenario's transfers.
    // As fast as the database allows (`--pace 0`): a check, with no payments to make room for.
    let books = tokio::task::spawn_blocking({
        let mut auditor = auditor.clone();
        // Whatever pace `--audit-args` gave the runs above (a flag given
        // twice is refused).
        if let Some(at) = auditor.extra.iter().position(|a| a == "--pace") {
            auditor.extra.drain(at..(at + 2).min(auditor.extra.len()));
        }
        auditor.extra.extend(["--pace".to_owned(), "0".to_owned()]);
        move || auditor.run("after the run, --pace 0", None)
    })
    .await
    .expect("final audit");
    eprintln!("{}", audit_row(&books));

    let seeding = Seeding {
        users: args.users,
        journal_entries: args.journal_entries,
        users_seconds: seed_users_seconds,
        journal_seconds: seed_journal_seconds,
    };
    let table = markdown(&outcomes, &audits, &books, idle_rss, &seeding, args.concurrency);
    println!("{table}");
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("results.md"), &table).map_err(|e| e.to_string())?;
    let json = serde_json::json!({
        "users": args.users,
        "journalEntries": args.journal_entries,
        "auditArgs": args.audit_args,
        "auditLeadSeconds": args.audit_lead,
        "seedSeconds": { "users": seed_users_seconds, "journal": seed_journal_seconds },
        "durationSeconds": args.duration,
        "concurrency": args.concurrency,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "serverIdleRssMib": idle_rss,
        "scenarios": outcomes,
        "audits": audits,
        "booksAfterRun": books,
        "ratios": ratios(&outcomes).into_iter().map(|(k, v)| (k.to_string(), v.into())).collect::<serde_json::Map<_, _>>(),
    });
    let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("results.json"), json).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", args.out.join("results.{md,json}").display());

    server.stop();
    match embedded {
        // A throwaway database: its folder goes (dropping a large journal
        // first would take SecantusDB minutes).
        Some((mut db, storage)) => {
            db.stop();
            let _ = std::fs::remove_dir_all(storage);
        }
        // Twice if need be: after a long audit the pooled connection may
        // have been closed by the server.
        None => {
            if database.drop().await.is_err() {
                database.drop().await.map_err(|e| e.to_string())?;
            }
        }
    }
    let failed = audits
        .iter()
        .chain([&books])
        .filter(|a| !a.stopped && a.exit_code != Some(0))
        .count();
    if failed > 0 {
        return Err(format!("{failed} audit runs did not exit 0 (see above)"));
    }
    Ok(())
}

struct SeededUser {
    id: ObjectId,
    username: String,
}

struct World {
    http: reqwest::Client,
    base: String,
    client: mongodb::Client,
    accounts: mongodb::Collection<Document>,
    /// The users, for raw-db-search.
    people: mongodb::Collection<Document>,
    transfers: mongodb::Collection<Document>,
    users: Vec<SeededUser>,
    tokens: Vec<String>,
    /// Pending requests for `request-pay`: (request id, the payer's index).
    requests: std::sync::Mutex<Vec<(ObjectId, usize)>>,
}

/// Seeds `n` users through the bank's bulk import, 1,000 per transaction,
/// all with the same (once hashed) password and a balance of ₹10,000.
async fn seed(client: &mongodb::Client, database: &mongodb::Database, n: usize) -> Result<Vec<SeededUser>, String> {
    let passwords = Passwords::new(1);
    let hash = passwords.hash(PASSWORD.into()).await.map_err(|e| e.to_string())?;
    let bank = Bank::new(client.clone(), database, passwords);
    // The issuer every grant comes from (the server would create it too).
    bank.migrate().await.map_err(|e| format!("seed: {e}"))?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut users = Vec::with_capacity(n);
    let mut shown = Shown::new("seeding users", n as u64);
    for start in (0..n).step_by(1000) {
        let batch: Vec<Import> = (start..(start + 1000).min(n))
            .map(|i| Import {
                username: format!("user{i}@loadgen.example"),
                first_name: FIRST[rng.gen_range(0..FIRST.len())].into(),
                last_name: LAST[rng.gen_range(0..LAST.len())].into(),
                password_hash: hash.clone(),
                balance: SEED_BALANCE,
            })
            .collect();
        let ids = bank.import(&batch).await.map_err(|e| format!("seed: {e}"))?;
        users.extend(ids.into_iter().zip(batch).map(|(id, u)| SeededUser {
            id,
            username: u.username,
        }));
        shown.set(users.len() as u64);
    }
    shown.finish();
    Ok(users)
}

/// Progress of a long step on stderr: a bar on a terminal, otherwise a
/// plain line at most every 10 s.
struct Shown {
    what: &'static str,
    total: u64,
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Shown {
    fn new(what: &'static str, total: u64) -> Shown {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style =
                indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} ({per_sec}, about {eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(what);
            bar
        });
        Shown {
            what,
            total,
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn set(&mut self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                self.last_line = Instant::now();
                eprintln!(
                    "  {}: {done} of {} ({:.0}/s)",
                    self.what,
                    self.total,
                    done as f64 / self.started.elapsed().as_secs_f64()
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Adds `n` transfer entries among `users` in rounds that change no balance.
/// Each round is a cycle with one amount: a random order of some users, each
/// paying the user `k` places after it (0 < k < the cycle's length), so each
/// member pays once and is paid once. Full rounds take every user; a
/// remainder is one shorter cycle (or, for a remainder of one, the last full
/// round split into cycles of all but one user and of two). Every member's
/// `debits` and `credits` grow by the same sum, so balances stay as they
/// are and `paisa audit` still finds the books exact: one `update_many` for
/// the full rounds' sum over all users, one per distinct remainder sum. The
/// entries go in with `insert_many`, 10,000 a command, not in a transaction.
async fn seed_journal(database: &mongodb::Database, users: &[SeededUser], n: usize) -> Result<(), String> {
    if n == 0 {
        return Ok(());
    }
    let u = users.len();
    if u < 3 || n < 2 {
        return Err("--journal-entries needs at least 3 users and 2 entries".into());
    }
    let mut rng = StdRng::seed_from_u64(11);
    let mut rounds: Vec<usize> = vec![u; n / u];
    match n % u {
        0 => {}
        1 => {
            rounds.pop();
            rounds.extend([u - 1, 2]);
        }
        r => rounds.push(r),
    }
    let transfers = database.collection::<Document>("transfers");
    let mut full_sum = 0_i64;
    let mut extra = vec![0_i64; u];
    let mut order: Vec<usize> = (0..u).collect();
    let mut batch = Vec::with_capacity(10_000);
    let mut written = 0;
    let mut shown = Shown::new("seeding the journal", n as u64);
    for m in rounds {
        order.shuffle(&mut rng);
        let members = &order[..m];
        let shift = rng.gen_range(1..m);
        let amount: i64 = rng.gen_range(1..=100);
        if m == u {
            full_sum += amount;
        } else {
            for &i in members {
                extra[i] += amount;
            }
        }
        for (j, &from) in members.iter().enumerate() {
            let to = members[(j + shift) % m];
            batch.push(doc! {
                "_id": ObjectId::new(), "kind": "transfer", "from": users[from].id, "to": users[to].id,
                "amount": amount, "createdAt": DateTime::now(),
            });
            if batch.len() == 10_000 {
                written += batch.len();
                transfers
                    .insert_many(std::mem::take(&mut batch))
                    .await
                    .map_err(|e| format!("journal: {e}"))?;
                shown.set(written as u64);
            }
        }
    }
    if !batch.is_empty() {
        transfers
            .insert_many(batch)
            .await
            .map_err(|e| format!("journal: {e}"))?;
    }
    shown.finish();
    let accounts = database.collection::<Document>("accounts");
    if full_sum > 0 {
        accounts
            .update_many(
                doc! { "userId": { "$ne": ISSUER } },
                doc! { "$inc": { "debits": full_sum, "credits": full_sum } },
            )
            .await
            .map_err(|e| format!("journal totals: {e}"))?;
    }
    let mut by_sum: std::collections::BTreeMap<i64, Vec<ObjectId>> = Default::default();
    for (i, &sum) in extra.iter().enumerate().filter(|(_, &sum)| sum > 0) {
        by_sum.entry(sum).or_default().push(users[i].id);
    }
    for (sum, ids) in by_sum {
        accounts
            .update_many(
                doc! { "userId": { "$in": ids } },
                doc! { "$inc": { "debits": sum, "credits": sum } },
            )
            .await
            .map_err(|e| format!("journal totals: {e}"))?;
    }
    Ok(())
}

struct Run {
    latencies_us: Vec<u32>,
    errors: u64,
    retries: u64,
    seconds: f64,
}

/// Waits (at most two minutes) until the server and the database each use
/// under a tenth of a core over a second.
async fn settle(server: &Server, database: Option<u32>, clk_tck: f64) {
    let started = Instant::now();
    let busy = |pid: u32, before: u64| cpu_ticks(pid).is_some_and(|now| (now - before) as f64 / clk_tck > 0.1);
    while started.elapsed() < Duration::from_secs(120) {
        let server_before = server.cpu_ticks();
        let database_before = database.and_then(cpu_ticks);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let server_busy = (server.cpu_ticks() - server_before) as f64 / clk_tck > 0.1;
        let database_busy = database.zip(database_before).is_some_and(|(pid, b)| busy(pid, b));
        if !server_busy && !database_busy {
            break;
        }
    }
    eprintln!("server and database idle after {:.1}s", started.elapsed().as_secs_f64());
}

/// A search's text: the first 1–3 letters of a seeded first or last name.
fn search_prefix(rng: &mut StdRng) -> String {
    let names = if rng.gen_bool(0.5) { FIRST } else { LAST };
    let name = names[rng.gen_range(0..names.len())].to_lowercase();
    name.chars().take(rng.gen_range(1..=3)).collect()
}

/// raw-db-search: the first 20 users by full name whose full name or last
/// name starts with `prefix`, `caller` left out, as the database alone
/// answers it: both index ranges at once, 21 of each in full-name order,
/// merged. True when it answered.
async fn raw_search(users: &mongodb::Collection<Document>, prefix: &str, caller: ObjectId) -> bool {
    let range = |field: &str| {
        let upper = format!("{prefix}{}", char::MAX);
        let cursor = users
            .find(doc! { field: { "$gte": prefix, "$lt": upper } })
            .projection(doc! { "firstName": 1, "lastName": 1, "nameKey": 1, "username": 1 })
            .sort(doc! { "nameKey": 1, "_id": 1 })
            .limit(21);
        async move { cursor.await?.try_collect::<Vec<Document>>().await }
    };
    let (by_name, by_last) = tokio::join!(range("nameKey"), range("lastKey"));
    let (Ok(mut found), Ok(by_last)) = (by_name, by_last) else {
        return false;
    };
    found.extend(by_last);
    let key = |d: &Document| {
        (
            d.get_str("nameKey").unwrap_or_default().to_owned(),
            d.get_object_id("_id").ok(),
        )
    };
    found.sort_by_key(key);
    found.dedup_by_key(|d| d.get_object_id("_id").ok());
    found.retain(|d| d.get_object_id("_id").ok() != Some(caller));
    found.truncate(20);
    true
}

/// `clients` workers, each issuing one request after another until the time
/// is up; every finished request's latency is kept (sorted at the end).
async fn run_scenario(world: &Arc<World>, scenario: Scenario, clients: usize, duration: Duration) -> Run {
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let world = world.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(worker as u64 * 7919 + scenario as u64);
                let mut session = if scenario == Scenario::RawDbTransfer {
                    Some(world.client.start_session().await.expect("session"))
                } else {
                    None
                };
                let (mut latencies, mut errors, mut retries) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < deadline {
                    let began = Instant::now();
                    let ok = match scenario {
                        Scenario::RawDbTransfer => {
                            let (from, to) = pair(&mut rng, world.users.len());
                            let (ok, r) = raw_transfer(
                                &world,
                                session.as_mut().unwrap(),
                                world.users[from].id,
                                world.users[to].id,
                                rng.gen_range(1..100),
                            )
                            .await;
                            retries += r;
                            ok
                        }
                        Scenario::Transfer | Scenario::TransferDuringAudit => {
                            let (from, to) = pair(&mut rng, world.users.len());
                            http_transfer(&world, from, to, rng.gen_range(1..100)).await
                        }
                        Scenario::TransferKeyed => {
                            let (from, to) = pair(&mut rng, world.users.len());
                            let key = format!("{:032x}", rng.gen::<u128>());
                            succeeded(
                                transfer_request(&world, from, to, rng.gen_range(1..100))
                                    .header("idempotency-key", key),
                            )
                            .await
                        }
                        Scenario::HotRecipient => {
                            let from = rng.gen_range(1..world.users.len());
                            http_transfer(&world, from, 0, rng.gen_range(1..100)).await
                        }
                        Scenario::RequestPay => {
                            let next = world.requests.lock().unwrap().pop();
                            match next {
                                Some((id, payer)) => {
                                    let request = world
                                        .http
                                        .post(format!("{}/api/v1/requests/{}/pay", world.base, id.to_hex()))
                                        .bearer_auth(&world.tokens[payer]);
                                    succeeded(request).await
                                }
                                None => break,
                            }
                        }
                        Scenario::Balance => {
                            let who = rng.gen_range(0..world.users.len());
                            let request = world
                                .http
                                .get(format!("{}/api/v1/account/balance", world.base))
                                .bearer_auth(&world.tokens[who]);
                            succeeded(request).await
                        }
                        Scenario::RawDbBalance => {
                            let who = rng.gen_range(0..world.users.len());
                            let account = world
                                .accounts
                                .find_one(doc! { "userId": world.users[who].id })
                                .projection(doc! { "balance": 1 })
                                .await;
                            matches!(account, Ok(Some(a)) if a.get_i64("balance").is_ok())
                        }
                        Scenario::Search => {
                            let who = rng.gen_range(0..world.users.len());
                            let request = world
                                .http
                                .get(format!("{}/api/v1/user/bulk", world.base))
                                .query(&[("filter", search_prefix(&mut rng))])
                                .bearer_auth(&world.tokens[who]);
                            succeeded(request).await
                        }
                        Scenario::RawDbSearch => {
                            let who = world.users[rng.gen_range(0..world.users.len())].id;
                            raw_search(&world.people, &search_prefix(&mut rng), who).await
                        }
                        Scenario::Audit => unreachable!("the audit runs the binary"),
                        Scenario::Events => unreachable!("run_events runs it"),
                        Scenario::Signin => {
                            let who = rng.gen_range(0..world.users.len());
                            // A different client address each time, as many
                            // users signing in would be (the proxy header is
                            // trusted in this run); the limiter still runs.
                            let request = world
                                .http
                                .post(format!("{}/api/v1/user/signin", world.base))
                                .header(
                                    "x-forwarded-for",
                                    format!("10.{}.{}.{}", worker, rng.gen::<u8>(), rng.gen::<u8>()),
                                )
                                .json(
                                    &serde_json::json!({ "username": world.users[who].username, "password": PASSWORD }),
                                );
                            succeeded(request).await
                        }
                    };
                    if Instant::now() > deadline {
                        break;
                    }
                    if ok {
                        latencies.push(began.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors, retries)
            })
        })
        .collect();
    let mut run = Run {
        latencies_us: Vec::new(),
        errors: 0,
        retries: 0,
        seconds: 0.0,
    };
    for worker in workers {
        let (latencies, errors, retries) = worker.await.expect("worker");
        run.latencies_us.extend(latencies);
        run.errors += errors;
        run.retries += retries;
    }
    run.seconds = start.elapsed().as_secs_f64().min(duration.as_secs_f64());
    run.latencies_us.sort_unstable();
    run
}

impl Run {
    /// Audit runs as a scenario's requests: a run that exits 0 is a request,
    /// its wall time the latency; any other exit is an error.
    fn of_audits(runs: &[AuditRun]) -> Run {
        let mut latencies_us: Vec<u32> = runs
            .iter()
            .filter(|r| r.exit_code == Some(0))
            .map(|r| (r.wall_seconds * 1e6).min(u32::MAX as f64) as u32)
            .collect();
        latencies_us.sort_unstable();
        Run {
            errors: (runs.len() - latencies_us.len()) as u64,
            latencies_us,
            retries: 0,
            seconds: runs.iter().map(|r| r.wall_seconds).sum(),
        }
    }
}

/// Runs `paisa audit` back to back until `duration` has passed (at least once).
async fn audit_back_to_back(auditor: &Auditor, during: &'static str, duration: Duration) -> Vec<AuditRun> {
    let auditor = auditor.clone();
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut runs = Vec::new();
        while runs.is_empty() || start.elapsed() < duration {
            let run = auditor.run(during, None);
            eprintln!("{}", audit_row(&run));
            runs.push(run);
        }
        runs
    })
    .await
    .expect("audits")
}

/// Runs the real `paisa audit` against the benchmark's database.
#[derive(Clone)]
struct Auditor {
    binary: PathBuf,
    uri: String,
    db: String,
    /// More arguments (`--audit-args`).
    extra: Vec<String>,
    /// The embedded database's process, to count its CPU.
    database_pid: Option<u32>,
    /// Pings the database while an audit runs (see [`longest_ping`]).
    probe: (tokio::runtime::Handle, mongodb::Database),
    clk_tck: f64,
}

/// One run of `paisa audit --json`.
#[derive(Debug, Serialize)]
struct AuditRun {
    /// What ran beside it.
    during: &'static str,
    /// From start to exit, process start and connection included.
    wall_seconds: f64,
    exit_code: Option<i32>,
    /// Stopped by the benchmark (its scenario ended first).
    stopped: bool,
    /// The audit's own figures (its JSON line).
    audit_seconds: Option<f64>,
    accounts: Option<u64>,
    entries: Option<u64>,
    violations: Option<usize>,
    /// Peak resident set (VmHWM, polled every 20 ms).
    peak_rss_mib: f64,
    /// The longest the database took to answer a ping during the run (a
    /// ping reads no data: a stall of the whole server, not of data requests).
    longest_ping_seconds: f64,
    /// The audit process's CPU (user + system), and the embedded database's
    /// over the same time (it serves everything else running too).
    cpu_seconds: f64,
    database_cpu_seconds: Option<f64>,
}

impl Auditor {
    fn database_cpu_ticks(&self) -> Option<u64> {
        cpu_ticks(self.database_pid?)
    }

    /// One run to its end, or until `stop` is set (then it is killed).
    fn run(&self, during: &'static str, stop: Option<&AtomicBool>) -> AuditRun {
        let start = Instant::now();
        let db_before = self.database_cpu_ticks();
        let spawned = Command::new(&self.binary)
            .args(["audit", "--mongodb-uri", &self.uri, "--db", &self.db, "--json"])
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                eprintln!("audit: cannot start {}: {e}", self.binary.display());
                return AuditRun {
                    during,
                    wall_seconds: 0.0,
                    exit_code: None,
                    stopped: false,
                    audit_seconds: None,
                    accounts: None,
                    entries: None,
                    violations: None,
                    peak_rss_mib: 0.0,
                    longest_ping_seconds: 0.0,
                    cpu_seconds: 0.0,
                    database_cpu_seconds: None,
                };
            }
        };
        let (runtime, probe_db) = &self.probe;
        let pinging = Arc::new(AtomicBool::new(true));
        let pinger = runtime.spawn(longest_ping(probe_db.clone(), pinging.clone()));
        // Read its answer on the side: a long list of violations must not
        // fill the pipe and stall it.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let (mut peak_kib, mut ticks, mut stopped) = (0_u64, 0_u64, false);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(_) => break None,
            }
            if !stopped && stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                stopped = true;
                let _ = child.kill();
            }
            peak_kib = peak_kib.max(status_kib(child.id(), "VmHWM").unwrap_or(0));
            ticks = cpu_ticks(child.id()).unwrap_or(ticks);
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall_seconds = start.elapsed().as_secs_f64();
        pinging.store(false, Ordering::Relaxed);
        let longest_ping_seconds = runtime.block_on(pinger).unwrap_or(0.0);
        let database_cpu_seconds = self
            .database_cpu_ticks()
            .zip(db_before)
            .map(|(a, b)| (a - b) as f64 / self.clk_tck);
        let out = reader.join().unwrap_or_default();
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        AuditRun {
            during,
            wall_seconds,
            exit_code: status.and_then(|s| s.code()),
            stopped,
            audit_seconds: report["seconds"].as_f64(),
            accounts: report["accounts"].as_u64(),
            entries: report["entries"].as_u64(),
            violations: report["violations"].as_array().map(Vec::len),
            peak_rss_mib: peak_kib as f64 / 1024.0,
            longest_ping_seconds,
            cpu_seconds: ticks as f64 / self.clk_tck,
            database_cpu_seconds,
        }
    }
}

/// A client of its own for [`longest_ping`], patient enough to wait out any
/// stall (the benchmark's and the app's clients give up after seconds).
async fn probe_client(uri: &str, db_name: &str) -> Result<mongodb::Database, String> {
    let mut options = mongodb::options::ClientOptions::parse(uri)
        .await
        .map_err(|e| e.to_string())?;
    options.connect_timeout = Some(Duration::from_secs(600));
    options.server_selection_timeout = Some(Duration::from_secs(600));
    options.heartbeat_freq = Some(Duration::from_secs(600));
    let client = mongodb::Client::with_options(options).map_err(|e| e.to_string())?;
    Ok(client.database(db_name))
}

/// Pings the database every 100 ms while `pinging`; the longest round trip,
/// in seconds (a ping under way when stopped is waited for).
async fn longest_ping(db: mongodb::Database, pinging: Arc<AtomicBool>) -> f64 {
    let mut longest = 0.0_f64;
    while pinging.load(Ordering::Relaxed) {
        let began = Instant::now();
        let _ = db.run_command(doc! { "ping": 1 }).await;
        longest = longest.max(began.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    longest
}

/// The embedded database's own process (not its shell guard): the one whose
/// command line has its port.
/// The database's operations so far (`serverStatus` opcounters, summed);
/// none when it does not say.
async fn database_ops(client: &mongodb::Client) -> Option<u64> {
    let status = client
        .database("admin")
        .run_command(doc! { "serverStatus": 1 })
        .await
        .ok()?;
    let counters = status.get_document("opcounters").ok()?;
    Some(
        counters
            .values()
            .filter_map(|v| match v {
                mongodb::bson::Bson::Int32(n) => Some(*n as u64),
                mongodb::bson::Bson::Int64(n) => Some(*n as u64),
                mongodb::bson::Bson::Double(n) => Some(*n as u64),
                _ => None,
            })
            .sum(),
    )
}

fn database_pid(port: u16) -> Option<u32> {
    let needle = format!("\0--port\0{port}\0");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = String::from_utf8_lossy(&std::fs::read(entry.path().join("cmdline")).ok()?).into_owned();
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (cmdline.contains(&needle) && comm.trim() != "sh").then_some(pid)
    })
}

/// User + system CPU ticks of a process so far (/proc/PID/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(field(14)? + field(15)?)
}

/// A line of /proc/PID/status, in kB (VmRSS now, VmHWM the peak).
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn pair(rng: &mut StdRng, n: usize) -> (usize, usize) {
    let from = rng.gen_range(0..n);
    let to = (from + rng.gen_range(1..n)) % n;
    (from, to)
}

async fn http_transfer(world: &World, from: usize, to: usize, paise: i64) -> bool {
    succeeded(transfer_request(world, from, to, paise)).await
}

fn transfer_request(world: &World, from: usize, to: usize, paise: i64) -> reqwest::RequestBuilder {
    world
        .http
        .post(format!("{}/api/v1/account/transfer", world.base))
        .bearer_auth(&world.tokens[from])
        .json(&serde_json::json!({ "to": world.users[to].id.to_hex(), "amount": paise as f64 / 100.0 }))
}

/// Pending requests seeded before each `request-pay` window: more than
/// it can pay.
const REQUESTS_SEEDED: usize = 20_000;

/// Inserts `n` pending requests, each from its own requester (the second
/// half of the users, so none passes the 20-pending limit) to a random
/// payer among the first half, ₹0.01–₹0.99; straight into the collection,
/// like the journal seed.
async fn seed_requests(database: &mongodb::Database, world: &World, n: usize) -> Result<(), String> {
    let half = world.users.len() / 2;
    let n = n.min(half);
    let mut rng = StdRng::seed_from_u64(13);
    let now = DateTime::now();
    let expires = DateTime::from_millis(now.timestamp_millis() + 7 * 24 * 3600 * 1000);
    let mut docs = Vec::with_capacity(n);
    let mut queue = Vec::with_capacity(n);
    for i in 0..n {
        let (payer, requester) = (rng.gen_range(0..half), half + i);
        let id = ObjectId::new();
        docs.push(doc! {
            "_id": id, "from": world.users[payer].id, "to": world.users[requester].id,
            "amount": rng.gen_range(1..100_i64), "status": "pending", "createdAt": now, "expiresAt": expires,
        });
        queue.push((id, payer));
    }
    for chunk in docs.chunks(10_000) {
        database
            .collection::<Document>("requests")
            .insert_many(chunk)
            .await
            .map_err(|e| format!("requests: {e}"))?;
    }
    *world.requests.lock().unwrap() = queue;
    Ok(())
}

async fn succeeded(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        // Read the body: a request is done when its answer has arrived.
        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// The app's transfer transaction, issued through the driver alone, as
/// `bank/transfers.rs` and `bank/journal.rs` run it (without an idempotency
/// key): read the sender's account, conditional debit (with its running
/// total and posting count), read the recipient's account, credit within
/// the largest balance (the same), journal entry recording how both
/// accounts stand after it; retried on write conflicts by the bank's own
/// retry helper. Returns success and the retries it took.
async fn raw_transfer(
    world: &World,
    session: &mut mongodb::ClientSession,
    from: ObjectId,
    to: ObjectId,
    paise: i64,
) -> (bool, u64) {
    use futures::FutureExt;
    use paisa::server::bank::error::BankError;
    /// An account's balance and posting count, as the bank reads them.
    fn standing(account: &Document) -> (i64, i64) {
        (
            account.get_i64("balance").unwrap_or(0),
            account.get_i64("postings").unwrap_or(0),
        )
    }
    let stats = TxnStats::default();
    let retry = Retry {
        deadline: Instant::now() + Duration::from_secs(8),
        stats: &stats,
        outage: None,
    };
    let outcome = txn::run(session, retry, world, |session, world| {
        async move {
            let (balance, postings) = world
                .accounts
                .find_one(doc! { "userId": from })
                .session(&mut *session)
                .await?
                .as_ref()
                .map(standing)
                .ok_or(BankError::Unauthorized)?;
            let debited = balance >= paise
                && world
                    .accounts
                    .update_one(
                        doc! { "userId": from, "balance": { "$gte": paise } },
                        doc! { "$inc": { "balance": -paise, "debits": paise, "postings": 1 } },
                    )
                    .session(&mut *session)
                    .await?
                    .modified_count
                    == 1;
            if !debited {
                // Aborts: nothing to commit.
                return Err(BankError::InsufficientBalance);
            }
            let from_after = doc! { "balance": balance - paise, "seq": postings + 1 };
            let ceiling = MAX_BALANCE.paise() - paise;
            let (balance, postings) = world
                .accounts
                .find_one(doc! { "userId": to })
                .session(&mut *session)
                .await?
                .as_ref()
                .map(standing)
                .ok_or(BankError::InvalidAccount)?;
            if balance > ceiling {
                return Err(BankError::RecipientLimit);
            }
            let credited = world
                .accounts
                .update_one(
                    doc! { "userId": to, "balance": { "$lte": ceiling } },
                    doc! { "$inc": { "balance": paise, "credits": paise, "postings": 1 } },
                )
                .session(&mut *session)
                .await?;
            if credited.matched_count != 1 {
                return Err(BankError::RecipientLimit);
            }
            let to_after = doc! { "balance": balance + paise, "seq": postings + 1 };
            let entry = doc! {
                "_id": ObjectId::new(), "kind": "transfer", "from": from, "to": to,
                "amount": paise, "createdAt": DateTime::now(),
                "fromAfter": from_after, "toAfter": to_after,
            };
            world.transfers.insert_one(entry).session(&mut *session).await?;
            Ok(())
        }
        .boxed()
    })
    .await;
    (
        outcome.is_ok(),
        stats.retries.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// How long the `events` scenario waits, after its transfers, for the
/// events still on their way; one not there by then is counted missing.
const EVENTS_GRACE: Duration = Duration::from_secs(10);
/// How long the streams sit idle, all open, before the server's RSS is read.
const EVENTS_SETTLE: Duration = Duration::from_secs(2);

/// The `events` scenario's own measures (see [`run_events`]).
#[derive(Debug, Serialize)]
struct LiveReport {
    /// Streams asked for, and answered 200.
    listeners: usize,
    opened: usize,
    /// Streams not opened, by what happened (a status, or the error).
    refused: std::collections::BTreeMap<String, usize>,
    /// From the first request to the last stream's answer.
    open_seconds: f64,
    /// The server's VmRSS before the streams were opened, and with all of
    /// them open and idle (`EVENTS_SETTLE` after the last opened).
    rss_before_mib: f64,
    rss_idle_streams_mib: f64,
    /// Transfers answered with success (those answered after the window too).
    transfers: u64,
    /// Successful transfers whose event reached their recipient's stream.
    delivered: u64,
    /// Successful transfers whose event had not arrived `EVENTS_GRACE` after the window.
    missing: u64,
    /// Events that came again to the same stream.
    duplicates: u64,
    /// Events that came to a stream other than the recipient's.
    misdirected: u64,
    /// Events with an id no successful transfer answered.
    unknown: u64,
    /// Streams the server ended before the scenario did.
    ended_early: u64,
    /// Delivery latency from the entry's `createdAt` (stamped inside the
    /// transaction before its insert and commit; same host clock; whole
    /// milliseconds) to the event's arrival: an upper bound of commit to client.
    from_created: Percentiles,
    /// From the transfer's HTTP answer arriving to the event's arrival
    /// (negative when the event came first): a lower bound of commit to client.
    from_answer: Percentiles,
    /// From sending the transfer's request: its whole latency included.
    from_sent: Percentiles,
    /// Events delivered per second within the transfers' window: below the
    /// transfers' rate, the events fall behind (their latency grows over
    /// the window, and the backlog arrives after it).
    delivered_per_second: f64,
    /// From the last transfer's answer to the last delivery.
    last_delivery_after_seconds: f64,
    /// The transfers' window and the wait for their last events.
    window_seconds: f64,
    /// The server's CPU (user + system) over that window: the transfers'
    /// work and the events'.
    window_cpu_seconds: f64,
    /// The database's CPU and operations over the same window (not the
    /// streams' opening).
    window_database_cpu_seconds: Option<f64>,
    window_database_ops: Option<u64>,
    /// `window_cpu_seconds` per delivered event, ms.
    server_cpu_ms_per_event: Option<f64>,
}

/// Latency percentiles, ms.
#[derive(Debug, Default, Serialize)]
struct Percentiles {
    count: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Percentiles {
    /// Of signed microseconds.
    fn of(mut us: Vec<i64>) -> Percentiles {
        us.sort_unstable();
        let at = |q: f64| {
            let i = ((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1;
            us[i] as f64 / 1000.0
        };
        if us.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: us.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// What a stream's reader tells the scenario.
enum Heard {
    /// A `transfer` event, as it arrived on stream `who`.
    Event {
        who: usize,
        id: String,
        at: Instant,
        /// Arrival and the entry's `createdAt`, ms since the epoch.
        wall_ms: f64,
        created_ms: Option<i64>,
    },
    /// Stream `who` ended (by the server, or an error).
    Ended,
}

/// A transfer of the `events` scenario that succeeded.
struct Paid {
    id: String,
    to: usize,
    began: Instant,
    answered: Instant,
}

/// The `events` scenario needs a stream per listener on both sides (the
/// server inherits this process's limits) and a payer besides them.
fn check_for_listeners(args: &Args) -> Result<(), String> {
    if args.users <= args.listeners {
        return Err(format!(
            "events: --users ({}) must be more than --listeners ({}): the others pay them",
            args.users, args.listeners
        ));
    }
    let need = (args.listeners + 2 * args.concurrency + 256) as u64;
    if let Some(limit) = open_files_limit().filter(|&limit| limit < need) {
        return Err(format!(
            "events: the open-files limit is {limit}, and {} streams need about {need}: \
             raise it (`ulimit -n {need}`; scripts/bench raises the soft limit to the hard one)",
            args.listeners
        ));
    }
    if args.listeners > paisa::server::config::DEFAULT_MAX_STREAMS {
        eprintln!(
            "events: the server holds at most {} streams (MAX_LIVE_STREAMS): the rest will be refused",
            paisa::server::config::DEFAULT_MAX_STREAMS
        );
    }
    Ok(())
}

/// This process's soft limit on open files (/proc/self/limits); none when
/// unlimited or unknown.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// `listeners` users (the first seeded) each open `GET /api/v1/events`
/// (`clients` at a time); once all are open and have sat idle, the
/// server's RSS is read; then `clients` workers send transfers for
/// `duration`, each from a random other user to a random listener, and
/// every event is matched by its id to the transfer that answered it.
/// The run's figures are the transfers' (as the `transfer` scenario's).
async fn run_events(
    world: &Arc<World>,
    server: &Server,
    auditor: &Auditor,
    listeners: usize,
    clients: usize,
    duration: Duration,
) -> Result<(Run, LiveReport), String> {
    let clk_tck = auditor.clk_tck;
    use futures::StreamExt;
    let users = world.users.len();
    // No overall timeout: the streams stay open for the whole scenario.
    let sse = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Heard>();
    let rss_before = server.rss_mib("VmRSS");
    let opening = Instant::now();
    let url = format!("{}/api/v1/events", world.base);
    let opened: Vec<Result<tokio::task::JoinHandle<()>, String>> = futures::stream::iter(0..listeners)
        .map(|who| {
            let request = sse
                .get(&url)
                .bearer_auth(&world.tokens[who])
                .header("accept", "text/event-stream");
            let tx = tx.clone();
            async move {
                match request.send().await {
                    Ok(response) if response.status().is_success() => Ok(tokio::spawn(read_events(response, who, tx))),
                    Ok(response) => Err(response.status().as_u16().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .buffer_unordered(clients.max(1))
        .collect()
        .await;
    drop(tx);
    let open_seconds = opening.elapsed().as_secs_f64();
    let mut readers = Vec::new();
    let mut refused = std::collections::BTreeMap::<String, usize>::new();
    for result in opened {
        match result {
            Ok(reader) => readers.push(reader),
            Err(why) => *refused.entry(why).or_default() += 1,
        }
    }
    eprintln!(
        "events: {} of {listeners} streams open in {open_seconds:.1}s",
        readers.len()
    );
    tokio::time::sleep(EVENTS_SETTLE).await;
    let rss_idle = server.rss_mib("VmRSS");

    let cpu_before = server.cpu_ticks();
    let (db_cpu_before, db_ops_before) = (auditor.database_cpu_ticks(), database_ops(&world.client).await);
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let world = world.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(worker as u64 * 7919 + Scenario::Events as u64);
                let (mut latencies, mut errors, mut paid) = (Vec::new(), 0u64, Vec::new());
                while Instant::now() < deadline {
                    let (from, to) = (rng.gen_range(listeners..users), rng.gen_range(0..listeners));
                    let began = Instant::now();
                    let id = http_transfer_id(&world, from, to, rng.gen_range(1..100)).await;
                    let answered = Instant::now();
                    let ok = id.is_some();
                    if let Some(id) = id {
                        // Its event is awaited even when it ends past the window.
                        paid.push(Paid {
                            id,
                            to,
                            began,
                            answered,
                        });
                    }
                    if answered > deadline {
                        break;
                    }
                    if ok {
                        latencies.push((answered - began).as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors, paid)
            })
        })
        .collect();
    let mut run = Run {
        latencies_us: Vec::new(),
        errors: 0,
        retries: 0,
        seconds: 0.0,
    };
    let mut paid = Vec::new();
    for worker in workers {
        let (latencies, errors, more) = worker.await.map_err(|e| format!("events worker: {e}"))?;
        run.latencies_us.extend(latencies);
        run.errors += errors;
        paid.extend(more);
    }
    run.seconds = start.elapsed().as_secs_f64().min(duration.as_secs_f64());
    run.latencies_us.sort_unstable();

    // The events still on their way.
    let mut heard = Vec::new();
    let mut awaited: std::collections::HashSet<&str> = paid.iter().map(|p| p.id.as_str()).collect();
    let grace_end = Instant::now() + EVENTS_GRACE;
    loop {
        while let Ok(h) = rx.try_recv() {
            if let Heard::Event { id, .. } = &h {
                awaited.remove(id.as_str());
            }
            heard.push(h);
        }
        if awaited.is_empty() || Instant::now() >= grace_end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let window_seconds = start.elapsed().as_secs_f64();
    let window_cpu_seconds = (server.cpu_ticks() - cpu_before) as f64 / clk_tck;
    let window_database_cpu_seconds = auditor
        .database_cpu_ticks()
        .zip(db_cpu_before)
        .map(|(a, b)| (a - b) as f64 / clk_tck);
    let window_database_ops = database_ops(&world.client).await.zip(db_ops_before).map(|(a, b)| a - b);
    for reader in &readers {
        reader.abort();
    }

    let by_id: std::collections::HashMap<&str, &Paid> = paid.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut first: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let (mut from_created, mut from_answer, mut from_sent) = (Vec::new(), Vec::new(), Vec::new());
    let (mut in_window, mut last_at) = (0_u64, None::<Instant>);
    let (mut duplicates, mut misdirected, mut unknown, mut ended_early) = (0, 0, 0, 0);
    let micros = |later: Instant, earlier: Instant| match later.checked_duration_since(earlier) {
        Some(d) => d.as_micros() as i64,
        None => -(earlier.duration_since(later).as_micros() as i64),
    };
    for h in &heard {
        match h {
            Heard::Ended => ended_early += 1,
            Heard::Event {
                who,
                id,
                at,
                wall_ms,
                created_ms,
            } => match by_id.get(id.as_str()) {
                None => unknown += 1,
                Some(p) if p.to != *who => misdirected += 1,
                Some(p) if !first.insert(p.id.as_str()) => duplicates += 1,
                Some(p) => {
                    in_window += u64::from(*at <= deadline);
                    last_at = Some(last_at.map_or(*at, |t| t.max(*at)));
                    from_answer.push(micros(*at, p.answered));
                    from_sent.push(micros(*at, p.began));
                    if let Some(created) = created_ms {
                        from_created.push(((wall_ms - *created as f64) * 1000.0) as i64);
                    }
                }
            },
        }
    }
    let delivered = first.len() as u64;
    let delivered_per_second = in_window as f64 / duration.as_secs_f64();
    let last_delivery_after_seconds = match (last_at, paid.iter().map(|p| p.answered).max()) {
        (Some(delivery), Some(answer)) => micros(delivery, answer) as f64 / 1e6,
        _ => 0.0,
    };
    let live = LiveReport {
        listeners,
        opened: readers.len(),
        refused,
        open_seconds,
        rss_before_mib: rss_before,
        rss_idle_streams_mib: rss_idle,
        transfers: paid.len() as u64,
        delivered,
        missing: paid.len() as u64 - delivered,
        duplicates,
        misdirected,
        unknown,
        ended_early,
        from_created: Percentiles::of(from_created),
        from_answer: Percentiles::of(from_answer),
        from_sent: Percentiles::of(from_sent),
        delivered_per_second,
        last_delivery_after_seconds,
        window_seconds,
        window_cpu_seconds,
        window_database_cpu_seconds,
        window_database_ops,
        server_cpu_ms_per_event: (delivered > 0).then(|| window_cpu_seconds * 1000.0 / delivered as f64),
    };
    Ok((run, live))
}

/// Reads one event stream until it ends (or its task is aborted), telling
/// each `transfer` event as it arrives. Lines are `field: value`; a blank
/// line ends an event; comments (`:`) are keep-alives.
async fn read_events(mut response: reqwest::Response, who: usize, tx: tokio::sync::mpsc::UnboundedSender<Heard>) {
    let mut pending: Vec<u8> = Vec::new();
    let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = Instant::now();
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if event == "transfer" {
                    let body: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    if id.is_empty() {
                        id = body["id"].as_str().unwrap_or_default().to_owned();
                    }
                    let created_ms = body["createdAt"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.timestamp_millis());
                    let _ = tx.send(Heard::Event {
                        who,
                        id: std::mem::take(&mut id),
                        at,
                        wall_ms,
                        created_ms,
                    });
                }
                (event, id, data) = (String::new(), String::new(), String::new());
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = value.to_owned(),
                "id" => id = value.to_owned(),
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                _ => {}
            }
        }
    }
    let _ = tx.send(Heard::Ended);
}

/// A transfer through the API; its `transferId` when it succeeded.
async fn http_transfer_id(world: &World, from: usize, to: usize, paise: i64) -> Option<String> {
    let response = transfer_request(world, from, to, paise).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: serde_json::Value = response.json().await.ok()?;
    body["transferId"].as_str().map(str::to_owned)
}

/// One line for the log.
fn live_summary(live: &LiveReport) -> String {
    format!(
        "events: {} streams, RSS {:.1} → {:.1} MiB; {} of {} events delivered (missing {}), \
         from createdAt p50 {:.1} p99 {:.1} ms; {:.3} ms server CPU per event",
        live.opened,
        live.rss_before_mib,
        live.rss_idle_streams_mib,
        live.delivered,
        live.transfers,
        live.missing,
        live.from_created.p50_ms,
        live.from_created.p99_ms,
        live.server_cpu_ms_per_event.unwrap_or(0.0),
    )
}

/// The `events` scenario's table. `per_transfer`: the `transfer`
/// scenario's server CPU s per 1,000 transfers, if it ran.
fn live_table(live: &LiveReport, clients: usize, ratio: Option<f64>, per_transfer: Option<f64>) -> String {
    let verdict = |met: bool| if met { "met" } else { "missed" };
    let lat = |p: &Percentiles| {
        format!(
            "{:.1} / {:.1} / {:.1} / {:.1} ({} events)",
            p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.count
        )
    };
    let refused = if live.refused.is_empty() {
        String::new()
    } else {
        let why: Vec<String> = live.refused.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        format!("; refused: {}", why.join(", "))
    };
    let per_stream_kib = (live.rss_idle_streams_mib - live.rss_before_mib) * 1024.0 / live.opened.max(1) as f64;
    let mut out = format!(
        "\n\n`events`: {} live streams (`GET /api/v1/events`), one per user, held open while \
         {clients} clients send transfers from the other users to them. Delivery is the event's \
         arrival at its stream, matched by id to the transfer that answered it; commit to client \
         lies between the latency from the transfer's answer (negative: the event came first) and \
         the one from the entry's `createdAt` (stamped in the transaction before its insert and \
         commit; the same host clock, whole ms).\n\n\
         | measure | value | target |\n\
         |---|---|---|\n",
        live.listeners
    );
    let mut line = |measure: &str, value: String, target: String| {
        out.push_str(&format!("| {measure} | {value} | {target} |\n"));
    };
    line(
        "streams open",
        format!(
            "{} of {} in {:.1} s{refused}",
            live.opened, live.listeners, live.open_seconds
        ),
        String::new(),
    );
    line(
        "server RSS before / with the streams open and idle",
        format!(
            "{:.1} / {:.1} MiB ({per_stream_kib:.1} KiB a stream)",
            live.rss_before_mib, live.rss_idle_streams_mib
        ),
        format!("≤ 64 MiB: {}", verdict(live.rss_idle_streams_mib <= 64.0)),
    );
    line(
        "transfer req/s with the listeners / `transfer`",
        ratio.map_or("–".into(), |r| format!("{r:.2}")),
        ratio.map_or(String::new(), |r| format!("≥ 0.9: {}", verdict(r >= 0.9))),
    );
    line(
        "events delivered",
        format!(
            "{} of {} transfers (missing {}, duplicates {}, misdirected {}, unknown {}; streams ended early {})",
            live.delivered,
            live.transfers,
            live.missing,
            live.duplicates,
            live.misdirected,
            live.unknown,
            live.ended_early
        ),
        String::new(),
    );
    line(
        "delivery ms from `createdAt`: p50 / p90 / p99 / max",
        lat(&live.from_created),
        format!("p99 ≤ 250: {}", verdict(live.from_created.p99_ms <= 250.0)),
    );
    line(
        "delivery ms from the transfer's answer",
        lat(&live.from_answer),
        String::new(),
    );
    line(
        "delivery ms from sending the transfer",
        lat(&live.from_sent),
        String::new(),
    );
    line(
        "events delivered per second in the window / the last one after the last transfer's answer",
        format!(
            "{:.0}/s / {:.2} s",
            live.delivered_per_second, live.last_delivery_after_seconds
        ),
        String::new(),
    );
    line(
        "server CPU ms per delivered event (all its CPU over the window, transfers included)",
        live.server_cpu_ms_per_event.map_or("–".into(), |ms| format!("{ms:.3}")),
        String::new(),
    );
    if let (Some(all), Some(per_transfer)) = (live.server_cpu_ms_per_event, per_transfer) {
        line(
            "… less `transfer`'s server CPU per transfer",
            format!("{:.3}", all - per_transfer),
            String::new(),
        );
    }
    out
}

fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

fn row(o: &Outcome) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    // Audit runs are seconds long: their rate needs the decimals.
    let rate = if o.requests_per_second < 1.0 {
        format!("{:.3}", o.requests_per_second)
    } else if o.requests_per_second < 10.0 {
        format!("{:.2}", o.requests_per_second)
    } else {
        format!("{:.0}", o.requests_per_second)
    };
    let requests = o.requests.max(1) as f64;
    format!(
        "| {} | {} | {rate} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {} |",
        o.scenario.name(),
        o.clients,
        o.p50_ms,
        o.p90_ms,
        o.p99_ms,
        o.errors,
        opt(o.server_cpu_seconds_per_1000, 3),
        opt(o.server_peak_rss_mib, 1),
        opt(o.database_cpu_seconds.map(|s| s * 1000.0 / requests), 2),
        opt(o.database_ops.map(|n| n as f64 / requests), 1),
    )
}

fn ratios(outcomes: &[Outcome]) -> Vec<(&'static str, f64)> {
    use Scenario::*;
    const RATIOS: [(&str, Scenario, Scenario); 9] = [
        ("transfer / raw-db-transfer", Transfer, RawDbTransfer),
        ("transfer-keyed / transfer", TransferKeyed, Transfer),
        ("request-pay / transfer-keyed", RequestPay, TransferKeyed),
        ("transfer-during-audit / transfer", TransferDuringAudit, Transfer),
        ("hot-recipient / transfer", HotRecipient, Transfer),
        ("request-pay / transfer", RequestPay, Transfer),
        ("balance / raw-db-balance", Balance, RawDbBalance),
        ("search / raw-db-search", Search, RawDbSearch),
        ("events / transfer", Events, Transfer),
    ];
    let rate = |s: Scenario| outcomes.iter().find(|o| o.scenario == s).map(|o| o.requests_per_second);
    RATIOS
        .iter()
        .filter_map(|&(name, of, to)| Some((name, rate(of)? / rate(to)?)))
        .collect()
}

struct Seeding {
    users: usize,
    journal_entries: usize,
    users_seconds: f64,
    journal_seconds: f64,
}

fn audit_row(a: &AuditRun) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let count = |v: Option<u64>| v.map_or("–".to_string(), |v| v.to_string());
    format!(
        "| {} | {} | {:.1} | {} | {:.1} | {} | {:.2} | {:.1} | {} | {} |",
        a.during,
        match (a.stopped, a.exit_code) {
            (true, _) => "stopped".to_string(),
            (false, code) => code.map_or("none".to_string(), |c| c.to_string()),
        },
        a.wall_seconds,
        opt(a.audit_seconds, 1),
        a.cpu_seconds,
        opt(a.database_cpu_seconds, 1),
        a.longest_ping_seconds,
        a.peak_rss_mib,
        count(a.accounts),
        count(a.entries),
    )
}

fn markdown(
    outcomes: &[Outcome],
    audits: &[AuditRun],
    books: &AuditRun,
    idle_rss: f64,
    seeding: &Seeding,
    concurrency: usize,
) -> String {
    let mut out = format!(
        "{} users (seeded in {:.0} s), {} more journal entries (seeded in {:.0} s); server idle RSS {idle_rss:.1} MiB.\n\n\
         | scenario | clients | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU s / 1k req | server peak RSS MiB | database CPU ms / req | database ops / req |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        seeding.users, seeding.users_seconds, seeding.journal_entries, seeding.journal_seconds,
    );
    for o in outcomes {
        out.push_str(&row(o));
        out.push('\n');
    }
    if outcomes.iter().any(|o| o.scenario == Scenario::Audit) {
        out.push_str("\n(audit: one client; req/s is runs/s and the latencies are each run's wall time.)\n");
    }
    for (name, ratio) in ratios(outcomes) {
        out.push_str(&format!("\n{name}: **{ratio:.2}**"));
    }
    let per_transfer = outcomes
        .iter()
        .find(|o| o.scenario == Scenario::Transfer)
        .and_then(|o| o.server_cpu_seconds_per_1000);
    let events = outcomes.iter().find(|o| o.scenario == Scenario::Events);
    if let Some(live) = events.and_then(|o| o.live.as_ref()) {
        let ratio = ratios(outcomes)
            .into_iter()
            .find(|(name, _)| *name == "events / transfer")
            .map(|(_, r)| r);
        out.push_str(&live_table(live, concurrency, ratio, per_transfer));
    }
    out.push_str(
        "\n\n`paisa audit` runs (wall: process start to exit; audit: its own measure; CPU: its process, \
         and the database's over the same time; longest ping: the longest the database took to answer \
         a ping meanwhile, which reads no data):\n\n\
         | during | exit | wall s | audit s | audit CPU s | database CPU s | longest ping s | peak RSS MiB | accounts | entries |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for a in audits.iter().chain([books]) {
        out.push_str(&audit_row(a));
        out.push('\n');
    }
    out
}

/// The server under test: a child process with its own port, logging to a file.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(binary: &Path, uri: &str, db_name: &str) -> Result<Server, String> {
        if !binary.exists() {
            return Err(format!(
                "{} not found: build it first (`cargo leptos build --release`, or scripts/bench)",
                binary.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let data_dir = std::env::temp_dir().join(format!("paisa-loadgen-app-{}", std::process::id()));
        let log = std::fs::File::create(std::env::temp_dir().join(format!("paisa-loadgen-{}.log", std::process::id())))
            .map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .env("MONGODB_URI", uri)
            .env("MONGODB_DB", db_name)
            .env("JWT_SECRET", JWT_SECRET)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", data_dir)
            .env("TRUST_FORWARDED_FOR", "true")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        Ok(Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited at start ({status})"));
            }
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the server did not become healthy in 60 s".into())
    }

    /// User + system CPU ticks so far.
    fn cpu_ticks(&self) -> u64 {
        cpu_ticks(self.child.id()).unwrap_or(0)
    }

    /// A line of /proc/PID/status in MiB (VmRSS now, VmHWM the peak).
    fn rss_mib(&self, key: &str) -> f64 {
        status_kib(self.child.id(), key).map_or(0.0, |kb| kb as f64 / 1024.0)
    }

    /// Starts a new peak-RSS window (writing 5 to clear_refs resets VmHWM).
    fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    fn stop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
