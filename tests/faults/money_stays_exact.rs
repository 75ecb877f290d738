//! The proof the faults are for: after the load has drained, with every
//! outcome resolved, money is conserved and no balance is negative or
//! missing; `paisa audit` (the real binary) passes; the ledger holds exactly
//! the transfers reported successful, each with the recipient and amount
//! sent and the id reported; each balance is its start plus credits minus
//! debits from the ledger; every snapshot read during the load summed to
//! the total; and no request was answered in an undocumented way or left
//! without a definite answer.

use crate::common::db::{balances, docs};
use crate::{Ctx, Log, Reads, DRAIN_LIMIT, PROBES, USERS};
use mongodb::bson::{oid::ObjectId, Document};
use std::collections::{HashMap, HashSet};
use std::process::Command;

/// What the database holds at the end.
pub struct Books {
    /// Every user's balance, in paise.
    pub finals: HashMap<ObjectId, i64>,
    /// The transfers: the journal also holds the users' starting grants.
    pub ledger: Vec<Document>,
}

impl Books {
    pub async fn read(mdb: &mongodb::Database) -> Books {
        let finals = balances(mdb).await;
        let ledger: Vec<Document> = docs(mdb, "transfers")
            .await
            .into_iter()
            .filter(|e| e.get_str("kind") == Ok("transfer"))
            .collect();
        Books { finals, ledger }
    }

    /// The sum of the users' balances, in paise.
    pub fn total(&self) -> i64 {
        self.finals.values().sum()
    }
}

/// The failures, from the `books` against the starting balances (`initial`,
/// summing to `total`), the clients' `log` and the snapshot `reads`; the
/// audit runs against the database at `uri`, `db_name`.
#[allow(clippy::too_many_arguments)]
pub fn check(
    books: &Books,
    log: &Log,
    initial: &HashMap<ObjectId, i64>,
    total: i64,
    ctx: &Ctx,
    reads: &Reads,
    uri: &str,
    db_name: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
    let (finals, ledger) = (&books.finals, &books.ledger);

    // Money: conserved, never negative, every account still there.
    let final_total = books.total();
    if final_total != total {
        failures.push(format!(
            "money not conserved: {total} paise before, {final_total} after"
        ));
    }
    let negative: Vec<_> = finals.iter().filter(|(_, b)| **b < 0).collect();
    if !negative.is_empty() {
        failures.push(format!("negative balances: {negative:?}"));
    }
    if finals.len() != USERS + PROBES {
        failures.push(format!("{} accounts, expected {}", finals.len(), USERS + PROBES));
    }

    // The books, proven by the real binary: `paisa audit` exits 0.
    let audit = Command::new(env!("CARGO_BIN_EXE_paisa"))
        .args(["audit", "--mongodb-uri", uri, "--db", db_name])
        .output()
        .expect("run paisa audit");
    if !audit.status.success() {
        failures.push(format!(
            "paisa audit exited {:?}:\n{}{}",
            audit.status.code(),
            String::from_utf8_lossy(&audit.stdout),
            String::from_utf8_lossy(&audit.stderr)
        ));
    }

    // Ledger = transfers reported successful, exactly, with their amounts.
    let mut in_ledger: HashMap<(ObjectId, String), &Document> = HashMap::new();
    for entry in ledger {
        let from = entry
            .get_object_id("from")
            .unwrap_or_else(|_| ObjectId::from_bytes([0; 12]));
        match entry.get_str("idempotencyKey") {
            Ok(key) => {
                if in_ledger.insert((from, key.to_owned()), entry).is_some() {
                    failures.push(format!("two ledger entries for key {key} from {from}"));
                }
            }
            Err(_) => failures.push(format!("ledger entry without idempotency key: {entry}")),
        }
    }
    let reported: HashSet<&(ObjectId, String)> = log.succeeded.keys().collect();
    let recorded: HashSet<&(ObjectId, String)> = in_ledger.keys().collect();
    let lost: Vec<_> = reported.difference(&recorded).take(10).collect();
    let unreported: Vec<_> = recorded.difference(&reported).take(10).collect();
    if ledger.len() != log.succeeded.len() || !lost.is_empty() || !unreported.is_empty() {
        failures.push(format!(
            "ledger has {} entries, {} transfers were reported successful; reported but not in the ledger: \
             {lost:?}; in the ledger but not reported: {unreported:?}",
            ledger.len(),
            log.succeeded.len()
        ));
    }
    for (key, entry) in &in_ledger {
        if let Some(job) = log.jobs.get(key) {
            let to = entry.get_object_id("to").ok();
            let amount = entry.get_i64("amount").ok();
            if to != Some(ctx.users[job.to].id) || amount != Some(job.paise) {
                failures.push(format!("ledger entry {entry} is not the transfer sent: {job:?}"));
            }
        }
    }
    // If the API reports the ledger id of a transfer, the ids must match too.
    let ids_reported: HashSet<&String> = log.succeeded.values().flatten().collect();
    if !ids_reported.is_empty() {
        let ids_in_ledger: HashSet<String> = ledger
            .iter()
            .filter_map(|e| e.get_object_id("_id").ok().map(|id| id.to_hex()))
            .collect();
        let ids_in_ledger: HashSet<&String> = ids_in_ledger.iter().collect();
        if ids_reported != ids_in_ledger {
            failures.push(format!(
                "transfer ids reported ({}) differ from the ledger's ({})",
                ids_reported.len(),
                ids_in_ledger.len()
            ));
        }
    }
    // Each balance = starting balance + credits − debits, from the ledger.
    let mut replayed = initial.clone();
    for entry in ledger {
        let amount = entry.get_i64("amount").unwrap_or(0);
        if let (Ok(from), Ok(to)) = (entry.get_object_id("from"), entry.get_object_id("to")) {
            *replayed.entry(from).or_default() -= amount;
            *replayed.entry(to).or_default() += amount;
        }
    }
    if &replayed != finals {
        let differ: Vec<_> = finals.iter().filter(|(u, b)| replayed.get(u) != Some(b)).collect();
        failures.push(format!("balances differ from start + ledger for {differ:?}"));
    }

    // The HTTP side: only documented answers, nothing left unknown.
    if !log.anomalies.is_empty() {
        failures.push(format!(
            "{} unexpected answers (a 5xx other than 503, or a 4xx other than insufficient balance):\n  {}",
            log.anomalies.len(),
            log.anomalies.iter().take(20).cloned().collect::<Vec<_>>().join("\n  ")
        ));
    }
    if !log.unresolved.is_empty() {
        failures.push(format!(
            "{} transfers still without a definite answer after {DRAIN_LIMIT:?} of retries: {:?}",
            log.unresolved.len(),
            log.unresolved.iter().take(5).collect::<Vec<_>>()
        ));
    }
    if !reads.bad.is_empty() {
        failures.push(format!("inconsistent snapshot reads: {:?}", reads.bad));
    }
    failures
}
