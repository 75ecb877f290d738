//! The books, proven: one consistent snapshot of every account, the journal
//! and the idempotency records, checked against each other. Reads only.
//!
//! Memory is bounded by the number of accounts, not entries: accounts are
//! streamed into one tally each, and the journal is summed per holder by the
//! database (`$group`), so only one row per holder comes back.

use super::journal::ISSUER;
use super::store::{ACCOUNTS, IDEMPOTENCY, JOURNAL};
use super::txn::transaction_options;
use crate::money::Money;
use crate::server::error::BankError;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::{Client, ClientSession, Database};
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an idempotency key is remembered: two entries with one key
/// from one sender closer together than this are a key applied twice.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

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
}

/// Audits `db` (see the module doc). `Err` only when it cannot run.
pub async fn audit(client: &Client, db: &Database) -> Result<Report, BankError> {
    let started = Instant::now();
    let mut session = client.start_session().await?;
    // A transaction only to read one snapshot: it writes nothing.
    session.start_transaction().with_options(transaction_options()).await?;
    let result = Audit::default().run(db, &mut session).await;
    let _ = session.abort_transaction().await;
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[derive(Default)]
struct Audit {
    tallies: HashMap<ObjectId, Tally>,
    violations: Vec<Violation>,
    entries: u64,
}

impl Audit {
    async fn run(mut self, db: &Database, session: &mut ClientSession) -> Result<Report, BankError> {
        self.accounts(db, session).await?;
        self.journal(db, session).await?;
        self.bad_entries(db, session).await?;
        self.idempotency(db, session).await?;
        self.duplicate_keys(db, session).await?;
        Ok(self.finish())
    }

    /// Every account: its balance, and its running totals.
    async fn accounts(&mut self, db: &Database, session: &mut ClientSession) -> Result<(), BankError> {
        let mut cursor = db
            .collection::<Document>(ACCOUNTS)
            .find(doc! {})
            .projection(doc! { "userId": 1, "balance": 1, "debits": 1, "credits": 1 })
            .session(&mut *session)
            .await?;
        while let Some(account) = cursor.next(&mut *session).await.transpose()? {
            let Ok(holder) = account.get_object_id("userId") else {
                self.violations.push(Violation {
                    check: "account has no holder",
                    account: account.get_object_id("_id").ok().map(|id| id.to_hex()),
                    user: None,
                    expected: "a userId".into(),
                    found: "none".into(),
                });
                continue;
            };
            let tally = self.tallies.entry(holder).or_default();
            tally.account = account.get_object_id("_id").ok();
            tally.balance = int(account.get("balance"));
            tally.totals = match (account.get("debits"), account.get("credits")) {
                (Some(d), Some(c)) => Some((int(Some(d)), int(Some(c)))),
                _ => None,
            };
        }
        Ok(())
    }

    /// Each holder's Σ debits and Σ credits in the journal, summed by the
    /// database.
    async fn journal(&mut self, db: &Database, session: &mut ClientSession) -> Result<(), BankError> {
        for side in ["from", "to"] {
            let pipeline =
                [doc! { "$group": { "_id": format!("${side}"), "sum": { "$sum": "$amount" }, "n": { "$sum": 1 } } }];
            let mut cursor = db
                .collection::<Document>(JOURNAL)
                .aggregate(pipeline)
                .session(&mut *session)
                .await?;
            while let Some(row) = cursor.next(&mut *session).await.transpose()? {
                let (sum, n) = (int(row.get("sum")), int(row.get("n")));
                let Ok(holder) = row.get_object_id("_id") else {
                    self.violations.push(entry_violation(
                        "entry without an account on both sides",
                        "from and to",
                        n,
                    ));
                    continue;
                };
                if side == "from" {
                    self.entries += n.max(0) as u64;
                }
                let Some(tally) = self.tallies.get_mut(&holder) else {
                    self.violations.push(Violation {
                        check: "entry names an account that does not exist",
                        account: None,
                        user: Some(holder.to_hex()),
                        expected: "an account".into(),
                        found: format!("{n} entries {side} it"),
                    });
                    continue;
                };
                if side == "from" {
                    tally.journal_debits = sum;
                } else {
                    tally.journal_credits = sum;
                }
            }
        }
        Ok(())
    }

    /// Entries that move nothing, or move money from an account to itself.
    async fn bad_entries(&mut self, db: &Database, session: &mut ClientSession) -> Result<(), BankError> {
        let filter = doc! { "$or": [
            { "amount": { "$not": { "$gt": 0_i64 } } },
            { "$expr": { "$eq": ["$from", "$to"] } },
        ] };
        let mut cursor = db
            .collection::<Document>(JOURNAL)
            .find(filter)
            .projection(doc! { "from": 1, "to": 1, "amount": 1 })
            .session(&mut *session)
            .await?;
        while let Some(entry) = cursor.next(&mut *session).await.transpose()? {
            self.violations.push(Violation {
                check: "entry must move a positive amount between two accounts",
                account: None,
                user: entry.get_object_id("from").ok().map(|id| id.to_hex()),
                expected: "amount > 0, from ≠ to".into(),
                found: format!(
                    "entry {}: {entry}",
                    entry.get_object_id("_id").map(|i| i.to_hex()).unwrap_or_default()
                ),
            });
        }
        Ok(())
    }

    /// Every remembered outcome that moved money names an entry of the same
    /// sender, recipient, amount and key.
    async fn idempotency(&mut self, db: &Database, session: &mut ClientSession) -> Result<(), BankError> {
        let journal = db.collection::<Document>(JOURNAL);
        let mut cursor = db
            .collection::<Document>(IDEMPOTENCY)
            .find(doc! { "transfer": { "$type": "objectId" } })
            .session(&mut *session)
            .await?;
        let mut records = Vec::new();
        while let Some(record) = cursor.next(&mut *session).await.transpose()? {
            records.push(record);
            if records.len() == 500 {
                self.check_records(&journal, session, std::mem::take(&mut records))
                    .await?;
            }
        }
        self.check_records(&journal, session, records).await
    }

    async fn check_records(
        &mut self,
        journal: &mongodb::Collection<Document>,
        session: &mut ClientSession,
        records: Vec<Document>,
    ) -> Result<(), BankError> {
        let ids: Vec<Bson> = records.iter().filter_map(|r| r.get("transfer").cloned()).collect();
        let entries: HashMap<ObjectId, Document> = journal
            .find(doc! { "_id": { "$in": ids } })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_filter_map(|e| async move { Ok(e.get_object_id("_id").ok().map(|id| (id, e))) })
            .try_collect()
            .await?;
        for record in records {
            let id = record.get_document("_id").cloned().unwrap_or_default();
            let (from, key) = (id.get("from").cloned(), id.get("key").cloned());
            let wanted = (from, record.get("to").cloned(), int(record.get("amount")), key);
            let entry = record.get_object_id("transfer").ok().and_then(|t| entries.get(&t));
            let found = entry.map(|e| {
                (
                    e.get("from").cloned(),
                    e.get("to").cloned(),
                    int(e.get("amount")),
                    e.get("idempotencyKey").cloned(),
                )
            });
            if found.as_ref() != Some(&wanted) {
                self.violations.push(Violation {
                    check: "idempotency record must name its entry",
                    account: None,
                    user: wanted.0.as_ref().and_then(Bson::as_object_id).map(|id| id.to_hex()),
                    expected: format!(
                        "an entry {:?} → {:?} of {} paise with key {:?}",
                        wanted.0, wanted.1, wanted.2, wanted.3
                    ),
                    found: match found {
                        Some(f) => format!("{:?} → {:?} of {} paise with key {:?}", f.0, f.1, f.2, f.3),
                        None => "no such entry".into(),
                    },
                });
            }
        }
        Ok(())
    }

    /// No key applied twice by one sender within its lifetime (after it, a
    /// key may be used again, as with any payments API's keys).
    async fn duplicate_keys(&mut self, db: &Database, session: &mut ClientSession) -> Result<(), BankError> {
        let pipeline = [
            doc! { "$match": { "idempotencyKey": { "$type": "string" } } },
            doc! { "$group": {
                "_id": { "from": "$from", "key": "$idempotencyKey" },
                "n": { "$sum": 1 },
                "at": { "$push": "$createdAt" },
            } },
            doc! { "$match": { "n": { "$gt": 1 } } },
        ];
        let mut cursor = db
            .collection::<Document>(JOURNAL)
            .aggregate(pipeline)
            .session(&mut *session)
            .await?;
        while let Some(group) = cursor.next(&mut *session).await.transpose()? {
            let mut at: Vec<i64> = group
                .get_array("at")
                .map(|a| {
                    a.iter()
                        .filter_map(Bson::as_datetime)
                        .map(|t| t.timestamp_millis())
                        .collect()
                })
                .unwrap_or_default();
            at.sort_unstable();
            let lifetime = KEY_LIFETIME.as_millis() as i64;
            if at.windows(2).any(|w| w[1] - w[0] < lifetime) {
                let id = group.get_document("_id").cloned().unwrap_or_default();
                self.violations.push(Violation {
                    check: "one idempotency key applied twice",
                    account: None,
                    user: id.get_object_id("from").ok().map(|f| f.to_hex()),
                    expected: "one entry per key".into(),
                    found: format!(
                        "{} entries with key {:?}",
                        at.len(),
                        id.get_str("key").unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
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

fn entry_violation(check: &'static str, expected: &str, n: i64) -> Violation {
    Violation {
        check,
        account: None,
        user: None,
        expected: expected.into(),
        found: format!("{n} entries"),
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
