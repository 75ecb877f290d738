//! Bringing in a database written by the first release, whose balances no
//! journal explains (a starting grant was set with no record): one `opening`
//! entry from the issuer per account, for the difference between its balance
//! and its entries, and the account's running totals.
//!
//! Idempotent and safe to interrupt: an account is brought in (entry,
//! totals, issuer) in one transaction, only while it has no totals, so a
//! second run, or a second instance starting at once, finds nothing left to
//! do for it. A marker skips the whole scan once every account is in.

use super::journal::ISSUER;
use super::store::{is_duplicate_key, After, EntryDoc};
use super::Bank;
use crate::model::EntryKind;
use crate::money::Money;
use crate::server::bank::error::BankError;
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::ClientSession;
use std::collections::HashMap;

/// Accounts brought in per transaction.
const BATCH: usize = 200;
/// The marker's id: every account of this database has running totals.
const JOURNAL_V1: &str = "journal-v1";

impl Bank {
    /// Runs at start: the issuer, idempotency records to string ids
    /// (`rekey.rs`), then every account without running totals. Returns how many accounts it brought in.
    pub async fn migrate(&self) -> Result<usize, BankError> {
        self.ensure_issuer().await?;
        self.rekey_idempotency_records().await?;
        let migrations = &self.migrations;
        if migrations.find_one(doc! { "_id": JOURNAL_V1 }).await?.is_some() {
            return Ok(0);
        }
        let brought_in = self.book_unbooked_accounts().await?;
        let marked = migrations
            .insert_one(doc! { "_id": JOURNAL_V1, "at": DateTime::now(), "accounts": brought_in as i64 })
            .await;
        match marked {
            Err(e) if !is_duplicate_key(&e) => return Err(e.into()),
            _ => {}
        }
        if brought_in > 0 {
            tracing::info!(accounts = brought_in, "brought first-release balances into the journal");
        }
        Ok(brought_in)
    }

    /// Brings in every account that has no running totals (see the module
    /// doc); also what a test does after changing a balance behind the
    /// bank's back. Returns how many it brought in.
    pub async fn book_unbooked_accounts(&self) -> Result<usize, BankError> {
        let unbooked: Vec<ObjectId> = self
            .accounts
            .clone_with_type::<Document>()
            .find(doc! { "credits": { "$exists": false } })
            .projection(doc! { "userId": 1 })
            .await?
            .try_filter_map(|d| async move { Ok(d.get_object_id("userId").ok()) })
            .try_collect()
            .await?;
        let mut brought_in = 0;
        for batch in unbooked.chunks(BATCH) {
            let context = (self, batch);
            brought_in += self
                .in_transaction(self.deadline(), context, |session, (bank, batch)| {
                    bank.book(session, batch).boxed()
                })
                .await?;
        }
        Ok(brought_in)
    }

    /// One batch, in one transaction.
    async fn book(&self, session: &mut ClientSession, holders: &[ObjectId]) -> Result<usize, BankError> {
        let accounts: Vec<Document> = self
            .accounts
            .clone_with_type::<Document>()
            .find(doc! { "userId": { "$in": holders }, "credits": { "$exists": false } })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        if accounts.is_empty() {
            return Ok(0);
        }
        let holders: Vec<ObjectId> = accounts.iter().filter_map(|a| a.get_object_id("userId").ok()).collect();
        let totals = self.journal_totals(session, &holders).await?;
        // What the issuer gives out and takes back, gross.
        let (mut entries, mut given, mut taken) = (Vec::new(), 0_i64, 0_i64);
        for account in &accounts {
            let (Ok(holder), Ok(id)) = (account.get_object_id("userId"), account.get_object_id("_id")) else {
                continue;
            };
            let number = |field: &str| match account.get(field) {
                Some(mongodb::bson::Bson::Int64(n)) => *n,
                Some(mongodb::bson::Bson::Int32(n)) => i64::from(*n),
                _ => 0,
            };
            let balance = number("balance");
            // The opening takes the next place in the account's order, if
            // it has begun one, with the balance it leaves.
            let after = After {
                balance,
                seq: number("postings") + 1,
            };
            let (mut debits, mut credits) = totals.get(&holder).copied().unwrap_or_default();
            // What the journal does not explain: the first release's grant.
            let difference = balance - (credits - debits);
            let mut placed = 0;
            if difference > 0 {
                let mut entry = opening(id, ISSUER, holder, difference);
                entry.to_after = Some(after);
                entries.push(entry);
                credits += difference;
                placed = 1;
            } else if difference < 0 {
                let mut entry = opening(id, holder, ISSUER, -difference);
                entry.from_after = Some(after);
                entries.push(entry);
                debits -= difference;
                placed = 1;
            }
            given += difference.max(0);
            taken += (-difference).max(0);
            self.accounts
                .update_one(
                    doc! { "_id": id, "credits": { "$exists": false } },
                    doc! { "$set": { "debits": debits, "credits": credits }, "$inc": { "postings": placed } },
                )
                .session(&mut *session)
                .await?;
        }
        self.post_issuer(session, Money::from_paise(given), Money::from_paise(taken))
            .await?;
        self.record(session, &entries).await?;
        Ok(accounts.len())
    }

    /// (Σ debits, Σ credits) of each holder's entries.
    async fn journal_totals(
        &self,
        session: &mut ClientSession,
        holders: &[ObjectId],
    ) -> Result<HashMap<ObjectId, (i64, i64)>, BankError> {
        let mut totals: HashMap<ObjectId, (i64, i64)> = HashMap::new();
        for side in ["from", "to"] {
            let mut cursor = self
                .journal
                .clone_with_type::<Document>()
                .find(doc! { side: { "$in": holders } })
                .projection(doc! { "from": 1, "to": 1, "amount": 1 })
                .session(&mut *session)
                .await?;
            while let Some(entry) = cursor.next(&mut *session).await.transpose()? {
                let (Ok(holder), Ok(amount)) = (entry.get_object_id(side), entry.get_i64("amount")) else {
                    continue;
                };
                let total = totals.entry(holder).or_default();
                if side == "from" {
                    total.0 += amount;
                } else {
                    total.1 += amount;
                }
            }
        }
        Ok(totals)
    }
}

/// The opening entry of the account `account`, dated when the account was
/// opened (its id's time, also in its own id), so history shows it where
/// the account began, before its transfers.
fn opening(account: ObjectId, from: ObjectId, to: ObjectId, paise: i64) -> EntryDoc {
    let mut entry = EntryDoc::new(EntryKind::Opening, from, to, Money::from_paise(paise));
    let mut id = entry.id.bytes();
    id[..4].copy_from_slice(&account.bytes()[..4]);
    entry.id = ObjectId::from_bytes(id);
    entry.created_at = DateTime::from_millis(account.timestamp().timestamp_millis());
    entry
}
