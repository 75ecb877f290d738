//! The books, proven: one consistent snapshot of every account, the journal,
//! the idempotency records and the requests the journal paid, checked
//! against each other. Reads only.
//!
//! Memory is bounded by the number of accounts (one tally each) and the
//! idempotency records (a day's worth: they expire), not by the journal:
//! it is read once, in ranges of recipient ids cut at the account holders
//! (`journal_pass.rs`), each entry summed into the tallies of its two
//! accounts and then dropped.
//! Accounts are read in chunks too, by ranges of holder ids (an account is
//! always made with its holder). Between chunks the audit pauses, so a
//! database that serves one request at a time (the embedded one) keeps
//! serving payments while it runs.

mod chain;
mod journal_pass;
mod ranges;
mod requests_pass;

use super::journal::ISSUER;
use super::store::{ACCOUNTS, IDEMPOTENCY};
use super::txn::transaction_options;
use crate::money::Money;
use crate::server::bank::error::BankError;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::{Client, ClientSession, Database};
use ranges::IdRanges;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// What the audit found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub accounts: u64,
    pub entries: u64,
    /// Everything the issuer ever gave out (net), in paise.
    pub issued: i64,
    pub seconds: f64,
    pub violations: Vec<Violation>,
}

/// One thing that does not add up.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    /// The account document's id, when the violation is about an account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The holder: a user id, or the issuer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub expected: String,
    pub found: String,
}

#[derive(Default)]
struct Tally {
    account: Option<ObjectId>,
    balance: i64,
    /// The account's running totals; none when it has none.
    totals: Option<(i64, i64)>,
    journal_debits: i64,
    journal_credits: i64,
    /// The account's posting count.
    postings: i64,
    /// Entries that record their place in this account's order.
    placed: i64,
    /// The chain of balances the entries record (`chain.rs`).
    chain: u64,
}

/// How far an audit has come: told after each chunk it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Accounts read so far (their number is not known in advance).
    Accounts { read: u64 },
    /// Entries read, of all of them.
    Journal { entries: u64, of: u64 },
}

/// Audits `db` (see the module doc); `pace` as `paisa audit --pace` (0: as
/// fast as the database allows). `Err` only when it cannot run.
pub async fn audit(client: &Client, db: &Database, pace: u32) -> Result<Report, BankError> {
    audit_with_progress(client, db, pace, &|_| {}).await
}

/// [`audit`], telling `progress` how far it has come after each chunk.
pub async fn audit_with_progress(
    client: &Client,
    db: &Database,
    pace: u32,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Report, BankError> {
    let started = Instant::now();
    let journal_before = db
        .collection::<Document>(super::store::JOURNAL)
        .estimated_document_count()
        .await?;
    let mut session = client.start_session().await?;
    // A transaction only to read one snapshot: it writes nothing.
    session.start_transaction().with_options(transaction_options()).await?;
    let audit = Audit {
        journal_before,
        ..Audit::default()
    };
    let result = audit.run(db, &mut session, pace, progress).await;
    let _ = session.abort_transaction().await;
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[derive(Default)]
struct Audit {
    /// The journal's size just before the snapshot (`journal_pass.rs`).
    journal_before: u64,
    tallies: HashMap<ObjectId, Tally>,
    /// Each request paid so far, by its entry.
    paid: HashMap<ObjectId, ObjectId>,
    violations: Vec<Violation>,
    entries: u64,
}

/// An idempotency record that says a transfer moved money: its entry.
struct Remembered {
    to: Option<ObjectId>,
    amount: i64,
    entry: ObjectId,
    /// When the record was made (ms).
    created: i64,
    /// Whether the pass met that entry, matching.
    found: bool,
}

impl Audit {
    async fn run(
        mut self,
        db: &Database,
        session: &mut ClientSession,
        pace: u32,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Report, BankError> {
        self.accounts(db, session, pace, progress).await?;
        let mut remembered = self.idempotency(db, session).await?;
        self.journal(db, session, &mut remembered, pace, progress).await?;
        self.unmatched(remembered);
        Ok(self.finish())
    }

    /// Every account: its balance, and its running totals. Read in chunks
    /// of holder ids (index ranges over the ObjectId space, widened or
    /// narrowed to a few thousand accounts each), paced like the journal.
    async fn accounts(
        &mut self,
        db: &Database,
        session: &mut ClientSession,
        pace: u32,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<(), BankError> {
        let accounts = db.collection::<Document>(ACCOUNTS);
        let Some(mut ranges) = IdRanges::over(&accounts, "userId", session).await? else {
            return Ok(());
        };
        while let Some(range) = ranges.next_range() {
            let started = Instant::now();
            let mut cursor = accounts
                .find(doc! { "userId": range })
                .projection(doc! { "userId": 1, "balance": 1, "debits": 1, "credits": 1, "postings": 1 })
                .session(&mut *session)
                .await?;
            let mut seen = 0;
            while let Some(account) = cursor.next(&mut *session).await.transpose()? {
                seen += 1;
                self.account(&account);
            }
            progress(Progress::Accounts {
                read: self.tallies.len() as u64,
            });
            ranges.saw(seen);
            if pace > 0 {
                tokio::time::sleep(started.elapsed() * pace).await;
            }
        }
        Ok(())
    }

    fn account(&mut self, account: &Document) {
        let Ok(holder) = account.get_object_id("userId") else {
            return;
        };
        let tally = self.tallies.entry(holder).or_default();
        tally.account = account.get_object_id("_id").ok();
        tally.balance = int(account.get("balance"));
        tally.postings = int(account.get("postings"));
        tally.totals = match (account.get("debits"), account.get("credits")) {
            (Some(d), Some(c)) => Some((int(Some(d)), int(Some(c)))),
            _ => None,
        };
    }

    /// The idempotency records that name an entry, by (sender, key).
    async fn idempotency(
        &mut self,
        db: &Database,
        session: &mut ClientSession,
    ) -> Result<HashMap<(ObjectId, String), Remembered>, BankError> {
        let mut cursor = db
            .collection::<Document>(IDEMPOTENCY)
            .find(doc! { "transfer": { "$type": "objectId" } })
            .session(&mut *session)
            .await?;
        let mut remembered = HashMap::new();
        while let Some(record) = cursor.next(&mut *session).await.transpose()? {
            // Sender and key beside the id; a record not yet brought to
            // a string id (`rekey.rs`, at the server's next start) has
            // them in its `_id`.
            let old_id = record.get_document("_id").ok();
            let (Ok(from), Ok(key), Ok(entry)) = (
                record
                    .get_object_id("from")
                    .or_else(|e| old_id.map_or(Err(e), |id| id.get_object_id("from"))),
                record
                    .get_str("key")
                    .or_else(|e| old_id.map_or(Err(e), |id| id.get_str("key"))),
                record.get_object_id("transfer"),
            ) else {
                continue;
            };
            remembered.insert(
                (from, key.to_owned()),
                Remembered {
                    to: record.get_object_id("to").ok(),
                    amount: int(record.get("amount")),
                    entry,
                    created: record.get_datetime("createdAt").map_or(0, |t| t.timestamp_millis()),
                    found: false,
                },
            );
        }
        Ok(remembered)
    }

    /// Records whose entry the pass never met.
    fn unmatched(&mut self, remembered: HashMap<(ObjectId, String), Remembered>) {
        for ((from, key), record) in remembered {
            if !record.found {
                self.violations.push(Violation {
                    check: "idempotency record must name its entry",
                    account: None,
                    user: Some(from.to_hex()),
                    expected: format!("entry {} with key {key}", record.entry.to_hex()),
                    found: "no such entry with that sender, recipient, amount and key".into(),
                });
            }
        }
    }

    /// The per-account checks, once everything is summed.
    fn finish(mut self) -> Report {
        let mut total = 0_i64;
        let mut issued = 0_i64;
        let accounts = self.tallies.len() as u64;
        let mut tallies: Vec<(ObjectId, Tally)> = self.tallies.into_iter().collect();
        tallies.sort_by_key(|(holder, _)| *holder);
        for (holder, t) in tallies {
            let mut flag = |check: &'static str, expected: i64, found: i64| {
                self.violations.push(Violation {
                    check,
                    account: t.account.map(|a| a.to_hex()),
                    user: Some(holder.to_hex()),
                    expected: Money::from_paise(expected).to_plain_rupees(),
                    found: Money::from_paise(found).to_plain_rupees(),
                });
            };
            total += t.balance;
            let journal = t.journal_credits - t.journal_debits;
            if holder == ISSUER {
                issued = -journal;
            } else if t.balance < 0 {
                flag("user balance below zero", 0, t.balance);
            }
            if t.balance != journal {
                flag("balance must equal its entries' credits − debits", journal, t.balance);
            }
            match t.totals {
                None => flag("account has no running totals (debits, credits)", journal, t.balance),
                Some((debits, credits)) => {
                    if debits != t.journal_debits {
                        flag("debits total must equal its entries' debits", t.journal_debits, debits);
                    }
                    if credits != t.journal_credits {
                        flag(
                            "credits total must equal its entries' credits",
                            t.journal_credits,
                            credits,
                        );
                    }
                }
            }
            if t.placed != t.postings {
                self.violations.push(Violation {
                    check: "posting count must equal the entries that record a place in it",
                    account: t.account.map(|a| a.to_hex()),
                    user: Some(holder.to_hex()),
                    expected: t.placed.to_string(),
                    found: t.postings.to_string(),
                });
            } else if !chain::closes(t.chain, t.postings, t.balance) {
                self.violations.push(Violation {
                    check: "the balances recorded after each entry must follow from one another to the balance",
                    account: t.account.map(|a| a.to_hex()),
                    user: Some(holder.to_hex()),
                    expected: format!(
                        "{} postings ending at {}",
                        t.postings,
                        Money::from_paise(t.balance).to_plain_rupees()
                    ),
                    found: "a record that does not follow from the one before".into(),
                });
            }
        }
        if total != 0 {
            self.violations.push(Violation {
                check: "all balances, issuer included, must sum to zero",
                account: None,
                user: None,
                expected: "0.00".into(),
                found: Money::from_paise(total).to_plain_rupees(),
            });
        }
        Report {
            accounts,
            entries: self.entries,
            issued,
            seconds: 0.0,
            violations: self.violations,
        }
    }
}

/// A stored number as paise (Int64, or Int32 as older writers may have
/// stored small ones); anything else counts as 0 and so shows up as a
/// difference.
fn int(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        _ => 0,
    }
}
