//! Idempotency records written before their ids were strings (`_id:
//! {from, key}`, which SecantusDB can only find by scanning the whole
//! collection) brought to the string id of [`idempotency_id`], once, at
//! start: a transfer retried across the upgrade must still find its first
//! outcome.
//!
//! Idempotent and safe to interrupt: copies are inserted under the new id
//! (one already there is kept), and only then are the old records deleted.
//! Run before the instance serves, at every start; an instance of an
//! earlier release still running beside it would not see the new records
//! (stop those first).

use super::store::{idempotency_id, only_duplicate_keys};
use super::Bank;
use crate::server::bank::error::BankError;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

/// Records copied per insert.
const BATCH: usize = 1000;

impl Bank {
    /// Returns how many records it brought to the string id. Looks at
    /// every start (no marker): a rollback to an earlier release writes
    /// records with a document id again, and they must be brought over
    /// when this release starts next (on MongoDB the `_id` index answers
    /// the look; on SecantusDB it reads the day's records once).
    pub(super) async fn rekey_idempotency_records(&self) -> Result<usize, BankError> {
        let records = self.idempotency.clone_with_type::<Document>();
        let mut rekeyed = 0;
        loop {
            // Copied records have string ids and the old ones are deleted:
            // each round reads the next batch, and the last reads none.
            let batch: Vec<Document> = records
                .find(doc! { "_id": { "$type": "object" } })
                .limit(BATCH as i64)
                .await?
                .try_collect()
                .await?;
            if batch.is_empty() {
                break;
            }
            let copies: Vec<Document> = batch.iter().filter_map(rekeyed_copy).collect();
            if !copies.is_empty() {
                match records.insert_many(&copies).ordered(false).await {
                    Ok(_) => {}
                    // Copied by an earlier, interrupted run (or an instance
                    // starting beside this one): kept.
                    Err(e) if only_duplicate_keys(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let ids: Vec<Bson> = batch.iter().filter_map(|d| d.get("_id").cloned()).collect();
            records.delete_many(doc! { "_id": { "$in": ids } }).await?;
            rekeyed += copies.len();
        }
        if rekeyed > 0 {
            tracing::info!(records = rekeyed, "idempotency records brought to string ids");
        }
        Ok(rekeyed)
    }
}

/// The record under its string id, its sender and key beside it; none for
/// a record without both (not one Paisa wrote).
fn rekeyed_copy(old: &Document) -> Option<Document> {
    let id = old.get_document("_id").ok()?;
    let (from, key) = (id.get_object_id("from").ok()?, id.get_str("key").ok()?);
    let mut copy = old.clone();
    copy.insert("_id", idempotency_id(from, key));
    copy.insert("from", from);
    copy.insert("key", key);
    Some(copy)
}
