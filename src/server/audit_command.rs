//! `paisa audit`: proves the books of a running (or stopped) Paisa and says
//! so in one line (exit 0), lists what does not add up (exit 1), or says in
//! one line why it cannot run (exit 2). It never writes.

use crate::money::Money;
use crate::server::bank::audit::{audit_with_progress, Progress, Report};
use crate::server::bank::store::{ACCOUNTS, JOURNAL};
use crate::server::config::AuditArgs;
use crate::server::db;
use crate::server::embedded::{self, EmbeddedMongo};
use std::process::ExitCode;

/// How long the audit waits for a busy database before taking it for gone.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
/// Audits begun at most when connections are cut under them.
const TRIES: u32 = 3;

pub async fn run(args: AuditArgs) -> ExitCode {
    match audit_database(&args).await {
        Ok(report) => {
            print(&report, args.json);
            if report.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            if args.json {
                println!("{}", serde_json::json!({ "ok": false, "error": message }));
            }
            eprintln!("paisa audit: cannot run: {message}");
            ExitCode::from(2)
        }
    }
}

async fn audit_database(args: &AuditArgs) -> Result<Report, String> {
    // Without MONGODB_URI: the files in DATA_DIR, opened the way Paisa
    // would open them, unless a running Paisa holds them: then only
    // through the database it serves from (it leaves its address there),
    // never a second database on the same files.
    let mut embedded = None;
    let uri = match &args.mongodb_uri {
        Some(uri) => uri.clone(),
        None => {
            let storage = args.data_dir.join("db");
            if !storage.is_dir() {
                return Err(format!("no database at {} (set --mongodb-uri)", storage.display()));
            }
            match EmbeddedMongo::start(&args.secantusd, &storage) {
                Ok(db) => embedded.insert(db).uri(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => running(&args.data_dir).await?,
                Err(e) => return Err(format!("cannot start the embedded database: {e}")),
            }
        }
    };
    // Answers at all (else exit 2 at once), then a patient connection.
    let (_, database) = db::connect(&uri, &args.db).await?;
    let collections = database
        .list_collection_names()
        .await
        .map_err(|e| format!("cannot list collections: {e}"))?;
    if ![ACCOUNTS, JOURNAL].iter().all(|c| collections.iter().any(|n| n == c)) {
        return Err(format!("database {:?} holds no Paisa accounts and journal", args.db));
    }
    let (client, database) = db::connect_patiently(&uri, &args.db, PATIENCE).await?;
    let shown = Shown::new();
    let mut tries = 1;
    let report = loop {
        match audit_with_progress(&client, &database, args.pace, &|p| shown.tell(p)).await {
            // A connection cut under a long read: a new snapshot, from the
            // start (a snapshot's transaction does not outlive the cut).
            Err(e) if tries < TRIES && (e.is_transient() || e.is_unavailable()) => {
                eprintln!("paisa audit: {e}; starting again ({tries} of {TRIES})");
                tries += 1;
            }
            other => break other.map_err(|e| e.to_string()),
        }
    };
    shown.finish();
    drop(embedded);
    report
}

/// How far the audit has come, on stderr: a progress bar on a terminal,
/// otherwise a plain line at most every 10 s (logs stay readable).
struct Shown {
    bar: Option<indicatif::ProgressBar>,
    last_line: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Shown {
    fn new() -> Shown {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Shown {
            bar,
            last_line: std::sync::Mutex::new(None),
        }
    }

    fn tell(&self, progress: Progress) {
        let text = match progress {
            Progress::Accounts { read } => format!("reading accounts: {read}"),
            Progress::Journal { entries, of } => format!(
                "reading the journal: {entries} of {of} entries ({}%)",
                entries * 100 / of.max(1)
            ),
        };
        match &self.bar {
            Some(bar) => {
                if let Progress::Journal { entries, of } = progress {
                    if bar.length() != Some(of) {
                        bar.set_style(
                            indicatif::ProgressStyle::with_template("{bar:30} {msg} ({elapsed}, about {eta} left)")
                                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                        );
                        bar.set_length(of);
                    }
                    bar.set_position(entries);
                }
                bar.set_message(text);
            }
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
                if last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(10)) {
                    eprintln!("paisa audit: {text}");
                    *last = Some(std::time::Instant::now());
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The embedded database of a Paisa running on `data_dir`, if it answers.
/// The database of the Paisa that holds the files in `data_dir`, once it
/// answers (a busy one is given time).
async fn running(data_dir: &std::path::Path) -> Result<String, String> {
    let uri = embedded::advertised_uri(data_dir)
        .ok_or("a running Paisa holds the database files but has not said where it serves them; try again")?;
    let mut tries = 0;
    loop {
        match db::connect(&uri, "admin").await {
            Ok(_) => return Ok(uri),
            Err(e) if tries >= 5 => {
                return Err(format!(
                    "a running Paisa holds the database files, and its database at {uri} did not answer ({e})"
                ))
            }
            Err(_) => tries += 1,
        }
    }
}

fn print(report: &Report, json: bool) {
    if json {
        let value = serde_json::json!({
            "ok": report.violations.is_empty(),
            "accounts": report.accounts,
            "entries": report.entries,
            "issued": Money::from_paise(report.issued).to_rupees_f64(),
            "seconds": report.seconds,
            "violations": report.violations,
        });
        println!("{value}");
        return;
    }
    for v in &report.violations {
        let account = v
            .account
            .as_deref()
            .map(|a| format!(" account {a}"))
            .unwrap_or_default();
        let user = v.user.as_deref().map(|u| format!(" user {u}")).unwrap_or_default();
        println!(
            "violation:{account}{user}: {}: expected {}, found {}",
            v.check, v.expected, v.found
        );
    }
    let verdict = if report.violations.is_empty() {
        "ok".to_owned()
    } else {
        format!("{} violations", report.violations.len())
    };
    println!(
        "audit {verdict}: {} accounts, {} entries, {} issued, {:.2} s",
        report.accounts,
        report.entries,
        Money::from_paise(report.issued),
        report.seconds
    );
}
