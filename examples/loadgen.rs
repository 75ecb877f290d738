//! Paisa's load generator: seeds users straight into the database, starts a
//! release build of the server on it, and runs each scenario for a fixed time
//! at a fixed concurrency, side by side in one run. `raw-db-transfer` issues
//! the transfer transaction through the driver alone (no HTTP, no app): the
//! ceiling the `transfer` scenario is measured against.
//!
//! `scripts/bench` builds everything and runs this; see `--help`.

use clap::{Parser, ValueEnum};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use paisa::money::Money;
use paisa::server::bank::journal::MAX_BALANCE;
use paisa::server::bank::txn::{self, Retry, TxnStats};
use paisa::server::bank::{Bank, Import};
use paisa::server::passwords::Passwords;
use paisa::server::tokens::Tokens;
use paisa::server::{db, embedded::EmbeddedMongo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Paisa load generator: each scenario for a fixed time at a fixed concurrency")]
struct Args {
    /// Users seeded into the database (search runs over all of them).
    #[arg(long, default_value_t = 100_000)]
    users: usize,
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
        default_value = "raw-db-transfer,transfer,hot-recipient,balance,search,signin"
    )]
    scenarios: Vec<Scenario>,
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
    /// POST /account/transfer from random users to one user.
    HotRecipient,
    /// GET /account/balance of random users.
    Balance,
    /// GET /user/bulk with 1–3 letter name prefixes.
    Search,
    /// POST /user/signin of random users.
    Signin,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::RawDbTransfer => "raw-db-transfer",
            Scenario::Transfer => "transfer",
            Scenario::HotRecipient => "hot-recipient",
            Scenario::Balance => "balance",
            Scenario::Search => "search",
            Scenario::Signin => "signin",
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
    /// Transaction retries (raw-db only; the app counts its own).
    retries: u64,
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
    db::ensure_indexes(&database).await.map_err(|e| e.to_string())?;

    let started = Instant::now();
    let users = seed(&client, &database, args.users).await?;
    eprintln!(
        "seeded {} users in {:.1}s",
        users.len(),
        started.elapsed().as_secs_f64()
    );

    let mut server = Server::start(&args.server, &uri, &db_name)?;
    server.wait_healthy().await?;
    let sessions = Tokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(24 * 3600)).map_err(|e| e.to_string())?;
    let tokens: Vec<String> = users.iter().map(|u| sessions.issue(u.id).unwrap()).collect();
    let world = Arc::new(World {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?,
        base: server.base.clone(),
        client: client.clone(),
        accounts: database.collection("accounts"),
        transfers: database.collection("transfers"),
        users,
        tokens,
    });
    let idle_rss = server.rss_mib("VmRSS");
    eprintln!("server idle RSS {idle_rss:.1} MiB");

    let mut outcomes = Vec::new();
    for &scenario in &args.scenarios {
        let uses_server = scenario != Scenario::RawDbTransfer;
        server.reset_peak_rss();
        let cpu_before = server.cpu_ticks();
        let run = run_scenario(&world, scenario, args.concurrency, Duration::from_secs(args.duration)).await;
        let cpu = (server.cpu_ticks() - cpu_before) as f64 / clk_tck;
        let outcome = Outcome {
            scenario,
            clients: args.concurrency,
            seconds: run.seconds,
            requests: run.latencies_us.len() as u64,
            errors: run.errors,
            requests_per_second: run.latencies_us.len() as f64 / run.seconds,
            p50_ms: percentile(&run.latencies_us, 0.50),
            p90_ms: percentile(&run.latencies_us, 0.90),
            p99_ms: percentile(&run.latencies_us, 0.99),
            server_cpu_seconds_per_1000: uses_server.then(|| cpu * 1000.0 / run.latencies_us.len().max(1) as f64),
            server_peak_rss_mib: uses_server.then(|| server.rss_mib("VmHWM")),
            retries: run.retries,
        };
        eprintln!("{}", row(&outcome));
        outcomes.push(outcome);
    }

    let table = markdown(&outcomes, idle_rss, args.users);
    println!("{table}");
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("results.md"), &table).map_err(|e| e.to_string())?;
    let json = serde_json::json!({
        "users": args.users,
        "durationSeconds": args.duration,
        "concurrency": args.concurrency,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "serverIdleRssMib": idle_rss,
        "scenarios": outcomes,
        "ratios": ratios(&outcomes).into_iter().map(|(k, v)| (k.to_string(), v.into())).collect::<serde_json::Map<_, _>>(),
    });
    let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("results.json"), json).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", args.out.join("results.{md,json}").display());

    server.stop();
    database.drop().await.map_err(|e| e.to_string())?;
    if let Some((mut db, storage)) = embedded {
        db.stop();
        let _ = std::fs::remove_dir_all(storage);
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
    transfers: mongodb::Collection<Document>,
    users: Vec<SeededUser>,
    tokens: Vec<String>,
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
    }
    Ok(users)
}

struct Run {
    latencies_us: Vec<u32>,
    errors: u64,
    retries: u64,
    seconds: f64,
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
                        Scenario::Transfer => {
                            let (from, to) = pair(&mut rng, world.users.len());
                            http_transfer(&world, from, to, rng.gen_range(1..100)).await
                        }
                        Scenario::HotRecipient => {
                            let from = rng.gen_range(1..world.users.len());
                            http_transfer(&world, from, 0, rng.gen_range(1..100)).await
                        }
                        Scenario::Balance => {
                            let who = rng.gen_range(0..world.users.len());
                            let request = world
                                .http
                                .get(format!("{}/api/v1/account/balance", world.base))
                                .bearer_auth(&world.tokens[who]);
                            succeeded(request).await
                        }
                        Scenario::Search => {
                            let who = rng.gen_range(0..world.users.len());
                            let names = if rng.gen_bool(0.5) { FIRST } else { LAST };
                            let name = names[rng.gen_range(0..names.len())].to_lowercase();
                            let prefix = &name[..rng.gen_range(1..=3).min(name.len())];
                            let request = world
                                .http
                                .get(format!("{}/api/v1/user/bulk", world.base))
                                .query(&[("filter", prefix)])
                                .bearer_auth(&world.tokens[who]);
                            succeeded(request).await
                        }
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

fn pair(rng: &mut StdRng, n: usize) -> (usize, usize) {
    let from = rng.gen_range(0..n);
    let to = (from + rng.gen_range(1..n)) % n;
    (from, to)
}

async fn http_transfer(world: &World, from: usize, to: usize, paise: i64) -> bool {
    let request = world
        .http
        .post(format!("{}/api/v1/account/transfer", world.base))
        .bearer_auth(&world.tokens[from])
        .json(&serde_json::json!({ "to": world.users[to].id.to_hex(), "amount": paise as f64 / 100.0 }));
    succeeded(request).await
}

async fn succeeded(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        // Read the body: a request is done when its answer has arrived.
        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// The app's transfer transaction, issued through the driver alone: read
/// the sender's balance, conditional debit (with its running total),
/// credit within the largest balance (with its running total), journal
/// entry; retried on write conflicts by the bank's own retry helper. Returns success and the
/// retries it took.
async fn raw_transfer(
    world: &World,
    session: &mut mongodb::ClientSession,
    from: ObjectId,
    to: ObjectId,
    paise: i64,
) -> (bool, u64) {
    use futures::FutureExt;
    let stats = TxnStats::default();
    let retry = Retry {
        deadline: Instant::now() + Duration::from_secs(8),
        stats: &stats,
        outage: None,
    };
    let outcome = txn::run(session, retry, world, |session, world| {
        async move {
            let sender = world
                .accounts
                .find_one(doc! { "userId": from })
                .session(&mut *session)
                .await?;
            let covered = sender
                .and_then(|a| a.get_i64("balance").ok())
                .is_some_and(|b| b >= paise);
            let debited = covered
                && world
                    .accounts
                    .update_one(
                        doc! { "userId": from, "balance": { "$gte": paise } },
                        doc! { "$inc": { "balance": -paise, "debits": paise } },
                    )
                    .session(&mut *session)
                    .await?
                    .modified_count
                    == 1;
            if !debited {
                // Aborts: nothing to commit.
                return Err(paisa::server::error::BankError::InsufficientBalance);
            }
            let credited = world
                .accounts
                .update_one(
                    doc! { "userId": to, "balance": { "$lte": MAX_BALANCE.paise() - paise } },
                    doc! { "$inc": { "balance": paise, "credits": paise } },
                )
                .session(&mut *session)
                .await?;
            if credited.matched_count != 1 {
                return Err(paisa::server::error::BankError::RecipientLimit);
            }
            let entry = doc! {
                "_id": ObjectId::new(), "kind": "transfer", "from": from, "to": to,
                "amount": paise, "createdAt": DateTime::now(),
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

fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

fn row(o: &Outcome) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    format!(
        "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
        o.scenario.name(),
        o.clients,
        o.requests_per_second,
        o.p50_ms,
        o.p90_ms,
        o.p99_ms,
        o.errors,
        opt(o.server_cpu_seconds_per_1000, 3),
        opt(o.server_peak_rss_mib, 1),
    )
}

fn ratios(outcomes: &[Outcome]) -> Vec<(&'static str, f64)> {
    let rate = |s: Scenario| outcomes.iter().find(|o| o.scenario == s).map(|o| o.requests_per_second);
    let mut out = Vec::new();
    if let (Some(app), Some(raw)) = (rate(Scenario::Transfer), rate(Scenario::RawDbTransfer)) {
        out.push(("transfer / raw-db-transfer", app / raw));
    }
    if let (Some(hot), Some(spread)) = (rate(Scenario::HotRecipient), rate(Scenario::Transfer)) {
        out.push(("hot-recipient / transfer", hot / spread));
    }
    out
}

fn markdown(outcomes: &[Outcome], idle_rss: f64, users: usize) -> String {
    let mut out = format!(
        "{users} users; server idle RSS {idle_rss:.1} MiB.\n\n\
         | scenario | clients | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU s / 1k req | server peak RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for o in outcomes {
        out.push_str(&row(o));
        out.push('\n');
    }
    for (name, ratio) in ratios(outcomes) {
        out.push_str(&format!("\n{name}: **{ratio:.2}**"));
    }
    out.push('\n');
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

    /// User + system CPU ticks so far (/proc/PID/stat fields 14 and 15).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The command name (field 2) may hold spaces: count from after it.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        field(14) + field(15)
    }

    /// A line of /proc/PID/status in MiB (VmRSS now, VmHWM the peak).
    fn rss_mib(&self, key: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
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
