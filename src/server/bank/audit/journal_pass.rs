//! The journal, read once: in ranges of entry ids (the `_id` index),
//! widened or narrowed to a few thousand entries each, every entry added to
//! the tallies of its two accounts, checked, and dropped. Every entry in
//! the snapshot is read, whatever it names: the number read is compared
//! with the journal's size before the snapshot (its metadata count: an
//! exact count reads every entry in one go, 28 s at a million on the
//! embedded database, long enough for the driver to take it for gone), and
//! an entry whose holder has no account (or
//! no valid holder) is a violation naming it. Entries paying a request are
//! checked against it a chunk at a time, and no request may be paid by two
//! entries. After each chunk the audit waits, in proportion to how long the
//! chunk took, so that a database serving one request at a time still
//! serves payments while the audit runs.

use super::ranges::IdRanges;
use super::requests_pass::Paying;
use super::{int, Audit, Progress, Remembered, Violation};
use crate::server::bank::error::BankError;
use crate::server::bank::store::{JOURNAL, KEY_LIFETIME};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::{ClientSession, Database};
use std::collections::HashMap;
use std::time::Instant;

impl Audit {
    /// Sums every entry into its sender's debits and its recipient's
    /// credits; checks each entry, and the idempotency records against the
    /// entries they name. `pace`: after each chunk, wait `pace` times as
    /// long as it took (0: no waiting).
    pub(super) async fn journal(
        &mut self,
        db: &Database,
        session: &mut ClientSession,
        remembered: &mut HashMap<(ObjectId, String), Remembered>,
        pace: u32,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<(), BankError> {
        let journal = db.collection::<Document>(JOURNAL);
        let total = self.journal_before;
        let now = DateTime::now().timestamp_millis();
        if let Some(mut ranges) = IdRanges::over(&journal, "_id", session).await? {
            while let Some(range) = ranges.next_range() {
                let started = Instant::now();
                let mut cursor = journal
                    .find(doc! { "_id": range })
                    .projection(doc! {
                        "from": 1, "to": 1, "amount": 1, "idempotencyKey": 1, "createdAt": 1, "fromAfter": 1,
                        "toAfter": 1, "request": 1,
                    })
                    .session(&mut *session)
                    .await?;
                let (mut seen, mut paying) = (0_usize, Vec::new());
                while let Some(entry) = cursor.next(&mut *session).await.transpose()? {
                    seen += 1;
                    self.entry(&entry, remembered, now);
                    paying.extend(Paying::of(&entry));
                }
                drop(cursor);
                self.requests_paid(db, session, &paying).await?;
                self.entries += seen as u64;
                progress(Progress::Journal {
                    entries: self.entries,
                    of: total,
                });
                ranges.saw(seen);
                if pace > 0 {
                    tokio::time::sleep(started.elapsed() * pace).await;
                }
            }
        }
        // The journal only grows: its snapshot holds at least the entries
        // counted before the snapshot was taken.
        if self.entries < total {
            self.violations.push(Violation {
                check: "every journal entry must be an entry the audit can read (an ObjectId id)",
                account: None,
                user: None,
                expected: format!("at least {total} entries"),
                found: format!("{} read", self.entries),
            });
        }
        Ok(())
    }

    /// Adds one side of `entry` to its `holder`'s tally, with the balance
    /// the entry records for it; a holder without an account is a
    /// violation naming the entry.
    fn post(&mut self, entry: &Document, id: Option<ObjectId>, holder: Option<ObjectId>, side: Side) {
        let (after, missing) = match side {
            Side::Credit(_) => ("toAfter", "entry names a recipient account that does not exist"),
            Side::Debit(_) => ("fromAfter", "entry names a sender account that does not exist"),
        };
        match holder.and_then(|h| self.tallies.get_mut(&h)) {
            Some(t) => {
                let change = match side {
                    Side::Credit(amount) => {
                        t.journal_credits += amount;
                        amount
                    }
                    Side::Debit(amount) => {
                        t.journal_debits += amount;
                        -amount
                    }
                };
                t.link(entry.get_document(after).ok(), change);
            }
            None => self.violations.push(Violation {
                check: missing,
                account: None,
                user: holder.map(|h| h.to_hex()),
                expected: "an account".into(),
                found: format!("entry {}", id.map(|i| i.to_hex()).unwrap_or_default()),
            }),
        }
    }

    fn entry(&mut self, entry: &Document, remembered: &mut HashMap<(ObjectId, String), Remembered>, now: i64) {
        let id = entry.get_object_id("_id").ok();
        let amount = int(entry.get("amount"));
        let (from, to) = (entry.get_object_id("from").ok(), entry.get_object_id("to").ok());
        if amount <= 0 || from.is_none() || from == to {
            self.violations.push(Violation {
                check: "entry must move a positive amount between two accounts",
                account: None,
                user: from.map(|f| f.to_hex()),
                expected: "amount > 0, from ≠ to".into(),
                found: format!("entry {}: {amount} paise", id.map(|i| i.to_hex()).unwrap_or_default()),
            });
        }
        self.post(entry, id, to, Side::Credit(amount));
        self.post(entry, id, from, Side::Debit(amount));
        let (Some(sender), Ok(key)) = (from, entry.get_str("idempotencyKey")) else {
            return;
        };
        // Keyed: the record for (sender, key), while it lives, names this
        // entry and no other.
        let Some(record) = remembered.get_mut(&(sender, key.to_owned())) else {
            return;
        };
        if Some(record.entry) == id {
            record.found = record.to == to && record.amount == amount;
            return;
        }
        let created = entry.get_datetime("createdAt").map_or(0, |t| t.timestamp_millis());
        if (record.created - created).abs() < KEY_LIFETIME.as_millis() as i64
            || now - created < KEY_LIFETIME.as_millis() as i64
        {
            self.violations.push(Violation {
                check: "one idempotency key applied twice",
                account: None,
                user: from.map(|f| f.to_hex()),
                expected: format!("only entry {} with key {key}", record.entry.to_hex()),
                found: format!("also entry {}", id.map(|i| i.to_hex()).unwrap_or_default()),
            });
        }
    }
}

/// An entry's amount as it reaches one of its accounts.
#[derive(Clone, Copy)]
enum Side {
    Credit(i64),
    Debit(i64),
}
