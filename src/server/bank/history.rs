//! The journal as one user sees it: their entries, newest first, paged,
//! each with the other party's name.

use super::journal::ISSUER;
use super::store::{EntryDoc, NameDoc};
use super::{Bank, HISTORY_MAX};
use crate::model::{Direction, HistoryEntry, HistoryPage, UserSummary};
use crate::money::Money;
use crate::server::bank::error::BankError;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};

impl Bank {
    /// One journal entry, if `user` sent or received it.
    pub async fn history_entry(&self, user: ObjectId, id: &str) -> Result<HistoryEntry, BankError> {
        let not_found = || BankError::invalid("transfer", "No such transfer");
        let id = ObjectId::parse_str(id.trim()).map_err(|_| not_found())?;
        let filter = doc! { "_id": id, "$or": [{ "from": user }, { "to": user }] };
        let entry = self.journal.find_one(filter).await?.ok_or_else(not_found)?;
        let mut entries = self.as_seen_by(user, vec![entry]).await?;
        entries.pop().ok_or_else(not_found)
    }

    /// The user's journal entries, newest first, `limit` at a time; `before`
    /// is the `next` cursor of the previous page.
    pub async fn history(&self, user: ObjectId, limit: usize, before: Option<&str>) -> Result<HistoryPage, BankError> {
        let limit = limit.clamp(1, HISTORY_MAX);
        let before = before
            .filter(|b| !b.is_empty())
            .map(|b| ObjectId::parse_str(b).map_err(|_| BankError::invalid("before", "Invalid page cursor")))
            .transpose()?;
        // Two index ranges ({from, _id} and {to, _id}) merged, rather than an
        // $or the planner may scan for.
        let (sent, received) = tokio::join!(
            self.newest(side("from", user, before), limit + 1),
            self.newest(side("to", user, before), limit + 1)
        );
        let mut entries: Vec<EntryDoc> = sent?.into_iter().chain(received?).collect();
        entries.sort_by_key(|t| std::cmp::Reverse(t.id));
        let next = (entries.len() > limit).then(|| entries[limit - 1].id.to_hex());
        entries.truncate(limit);
        Ok(HistoryPage {
            entries: self.as_seen_by(user, entries).await?,
            next,
        })
    }

    async fn newest(&self, filter: Document, limit: usize) -> Result<Vec<EntryDoc>, BankError> {
        let cursor = self
            .journal
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(limit as i64)
            .await?;
        Ok(cursor.try_collect().await?)
    }

    /// Entries as `user` sees them, with the other party's name (one read
    /// for all of them).
    pub(super) async fn as_seen_by(
        &self,
        user: ObjectId,
        entries: Vec<EntryDoc>,
    ) -> Result<Vec<HistoryEntry>, BankError> {
        let mut others: Vec<ObjectId> = entries.iter().map(|t| other_party(user, t)).collect();
        others.sort();
        others.dedup();
        let people = self.names(&others).await?;
        Ok(entries.into_iter().map(|t| seen_by(user, t, &people)).collect())
    }

    /// The names of `ids` (those that exist), as others see them.
    pub(crate) async fn names(&self, ids: &[ObjectId]) -> Result<Vec<UserSummary>, BankError> {
        // From memory when the search directory knows them (live events
        // name a counterparty per entry); the rest from the database.
        let (mut known, mut missing) = self.directory.summaries(ids);
        // The issuer is no user: nothing to read for it.
        missing.retain(|id| *id != ISSUER);
        if missing.is_empty() {
            return Ok(known);
        }
        let people: Vec<NameDoc> = self
            .users
            .clone_with_type::<NameDoc>()
            .find(doc! { "_id": { "$in": missing } })
            .projection(NameDoc::projection())
            .await?
            .try_collect()
            .await?;
        known.extend(people.into_iter().map(NameDoc::summary));
        Ok(known)
    }
}

/// The entry `t` as `user` sees it; the other party's name from `people`.
pub(crate) fn seen_by(user: ObjectId, t: EntryDoc, people: &[UserSummary]) -> HistoryEntry {
    let other = other_party(user, &t);
    let counterparty = (other != ISSUER).then(|| {
        let id = other.to_hex();
        people
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .unwrap_or_else(|| unknown(other))
    });
    HistoryEntry {
        id: t.id.to_hex(),
        kind: t.kind,
        direction: if t.from == user {
            Direction::Sent
        } else {
            Direction::Received
        },
        counterparty,
        note: t.note,
        amount: Money::from_paise(t.amount),
        created_at: t.created_at.timestamp_millis(),
    }
}

fn side(field: &str, user: ObjectId, before: Option<ObjectId>) -> Document {
    let mut filter = doc! { field: user };
    if let Some(before) = before {
        filter.insert("_id", doc! { "$lt": before });
    }
    filter
}

pub(crate) fn other_party(user: ObjectId, t: &EntryDoc) -> ObjectId {
    if t.from == user {
        t.to
    } else {
        t.from
    }
}

/// A party whose user record is gone: shown by id, with no name.
pub(super) fn unknown(id: ObjectId) -> UserSummary {
    UserSummary {
        id: id.to_hex(),
        first_name: String::new(),
        last_name: String::new(),
        hint: String::new(),
    }
}
