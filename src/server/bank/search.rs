//! Finding people by name: a case-insensitive prefix of the first name, the
//! last name or "first last", as index ranges (never a regex over user
//! text). Answered from memory by the directory while it is current
//! (`directory/`), else by the database, alike.

use super::store::NameDoc;
use super::{Bank, SEARCH_LIMIT};
use crate::limits::SEARCH_MAX_CHARS;
use crate::model::UserSummary;
use crate::server::bank::error::BankError;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};

impl Bank {
    /// The first `limit` users by full name (then id) among those whose
    /// first name, last name or "first last" starts with `filter` (literal
    /// text, any case), the caller excluded.
    pub async fn search(&self, caller: ObjectId, filter: &str, limit: usize) -> Result<Vec<UserSummary>, BankError> {
        let limit = limit.clamp(1, SEARCH_LIMIT);
        let prefix: String = filter
            .trim_start()
            .chars()
            .take(SEARCH_MAX_CHARS)
            .collect::<String>()
            .to_lowercase();
        if let Some(found) = self.directory.search(&prefix, limit, caller) {
            return Ok(found);
        }
        // Each range's first matches *by full name*: the "first last" range
        // covers first-name and full-name prefixes in index order; the
        // last-name range is sorted by full name too (a top-k sort), so
        // merging the two gives exactly the first matches of their union.
        // One extra each, in case the caller is among them.
        let by_name = self.names_in(range("nameKey", &prefix), limit + 1);
        let (mut found, by_last) = if prefix.is_empty() {
            (by_name.await?, Vec::new())
        } else {
            let (a, b) = tokio::join!(by_name, self.names_in(range("lastKey", &prefix), limit + 1));
            (a?, b?)
        };
        found.extend(by_last);
        found.sort_by(|a, b| a.name_key.cmp(&b.name_key).then(a.id.cmp(&b.id)));
        found.dedup_by_key(|u| u.id);
        found.retain(|u| u.id != caller);
        found.truncate(limit);
        Ok(found.into_iter().map(NameDoc::summary).collect())
    }

    /// Whether searches are answered from memory (the directory is loaded
    /// and following every change) rather than by the database.
    pub fn searches_from_memory(&self) -> bool {
        self.directory.is_live()
    }

    /// The first `limit` names matching `filter`, by full name.
    async fn names_in(&self, filter: Document, limit: usize) -> Result<Vec<NameDoc>, BankError> {
        let cursor = self
            .users
            .clone_with_type::<NameDoc>()
            .find(filter)
            .projection(NameDoc::projection())
            // By full name, then id: the "first last" range is then read in
            // the order of its index, with no sort step.
            .sort(doc! { "nameKey": 1, "_id": 1 })
            .limit(limit as i64)
            .await?;
        Ok(cursor.try_collect().await?)
    }
}

/// The index range of keys that start with `prefix`. The range alone:
/// SecantusDB plans a filter with a second condition (like
/// `_id: {$ne: caller}`) as a collection scan, so the caller is dropped here.
fn range(field: &str, prefix: &str) -> Document {
    let mut upper = prefix.to_owned();
    upper.push(char::MAX);
    doc! { field: { "$gte": prefix, "$lt": upper } }
}
