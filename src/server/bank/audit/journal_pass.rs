//! The journal, read once: in ranges of recipient ids (the `{to, _id}`
//! index) cut at the account holders the audit has read, each spanning as
//! many holders as hold a few thousand entries, every entry
//! added to the tallies of its two accounts, checked, and dropped. Ranges
//! of recipients, not of entry ids: SecantusDB keeps no index entries for
//! `_id`, so a range of entry ids scans the whole collection (5 s per
//! 4,000 entries at 200,000, against 0.17 s for a range of recipients).
//! Every entry in the snapshot is read, whatever it names: the number read
//! is compared with the journal's size before the snapshot (its metadata
//! count: an exact count reads every entry in one go, 28 s at a million on
//! the embedded database, long enough for the driver to take it for gone).
//! When fewer were read, the entries with no ObjectId recipient are looked
//! for (a scan, only then) and each is a violation naming it; so is an
//! entry whose holder has no account. Entries paying a request are checked
//! against it a chunk at a time, and no request may be paid by two
//! entries. After each chunk the audit waits, in proportion to how long the
//! chunk took, so that a database serving one request at a time still
//! serves payments while the audit runs.
//!
//! One recipient's entries are one range however many they are (one
//! cursor, read in batches): a recipient with millions of entries makes
//! one long read.

use super::ranges::HolderRanges;
use super::requests_pass::Paying;
use super::{int, Audit, Progress, Remembered, Violation};
use crate::server::bank::error::BankError;
use crate::server::bank::store::{JOURNAL, KEY_LIFETIME};
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
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
        let total = self.journal_before;
        let now = DateTime::now().timestamp_millis();
        let mut ranges = HolderRanges::new(self.tallies.keys().copied().collect());
        while let Some(range) = ranges.next_range() {
            let started = Instant::now();
            let seen = self.read(db, session, doc! { "to": range }, remembered, now).await?;
            progress(Progress::Journal {
                entries: self.entries,
                of: total,
            });
            ranges.saw(seen);
            if pace > 0 {
                tokio::time::sleep(started.elapsed() * pace).await;
            }
        }
        // The journal only grows: its snapshot holds at least the entries
        // counted before the snapshot was taken. Fewer read: some entries
        // name no ObjectId recipient, and no range held them.
        if self.entries < total {
            self.read(
                db,
                session,
                doc! { "to": { "$not": { "$type": "objectId" } } },
                remembered,
                now,
            )
            .await?;
        }
        if self.entries < total {
            self.violations.push(Violation {
                check: "every journal entry must be read by the audit",
                account: None,
                user: None,
                expected: format!("at least {total} entries"),
                found: format!("{} read", self.entries),
            });
        }
        Ok(())
    }

    /// Reads, checks and counts the entries `filter` selects; how many.
    async fn read(
        &mut self,
        db: &Database,
        session: &mut ClientSession,
        filter: Document,
        remembered: &mut HashMap<(ObjectId, String), Remembered>,
        now: i64,
    ) -> Result<usize, BankError> {
        let mut cursor = db
            .collection::<Document>(JOURNAL)
            .find(filter)
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
        Ok(seen)
    }

    /// Adds one side of `entry` to its `holder`'s tally, with the balance
    /// the entry records for it; a holder without an account is a
    /// violation naming the entry.
    fn post(&mut self, entry: &Document, named: &str, holder: Option<ObjectId>, side: Side) {
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
                found: format!("entry {named}"),
            }),
        }
    }

    fn entry(&mut self, entry: &Document, remembered: &mut HashMap<(ObjectId, String), Remembered>, now: i64) {
        let id = entry.get_object_id("_id").ok();
        let named = match entry.get("_id") {
            Some(Bson::ObjectId(id)) => id.to_hex(),
            Some(Bson::String(id)) => id.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let amount = int(entry.get("amount"));
        let (from, to) = (entry.get_object_id("from").ok(), entry.get_object_id("to").ok());
        if amount <= 0 || from.is_none() || from == to {
            self.violations.push(Violation {
                check: "entry must move a positive amount between two accounts",
                account: None,
                user: from.map(|f| f.to_hex()),
                expected: "amount > 0, from ≠ to".into(),
                found: format!("entry {named}: {amount} paise"),
            });
        }
        self.post(entry, &named, to, Side::Credit(amount));
        self.post(entry, &named, from, Side::Debit(amount));
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
                found: format!("also entry {named}"),
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
