//! What a user's account saw after a point in its own order: the entries a
//! live client missed while it was away (`Last-Event-ID`), or while it fell
//! behind.
//!
//! Entry ids are not in commit order (two instances make ids in the same
//! second in no particular order), but each account's posting count is: an
//! entry records it for both of its accounts ([`After::seq`]). So a point is
//! a posting count, and what came after it is found in a window of ids wide
//! enough for any transaction's delay and the instances' clock skew, then
//! put in posting order.

use super::history::{other_party, seen_by};
use super::store::EntryDoc;
use super::Bank;
use crate::model::{HistoryEntry, UserSummary};
use crate::money::Money;
use crate::server::bank::error::BankError;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId};

/// How far before a point's time the search for later entries starts.
const WINDOW_SLACK_SECS: u32 = 120;
/// Entries read per side of the account when catching up.
const READ_LIMIT: i64 = 400;

/// A point in one account's order: after this many postings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    /// When that point was: the search window starts a little before it.
    pub time: ObjectId,
}

/// A journal entry as one of its holders' live stream shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEntry {
    pub entry: HistoryEntry,
    /// The holder's balance right after it (none on entries older than the
    /// second release).
    pub balance: Option<Money>,
    pub seq: Option<i64>,
}

/// Entries after a position, oldest first.
#[derive(Debug, Default)]
pub struct Missed {
    pub entries: Vec<LiveEntry>,
    /// More were missed than these (the oldest are left out): the client
    /// should read its state afresh.
    pub gap: bool,
}

impl Bank {
    /// Where `user`'s account stands now.
    pub async fn position(&self, user: ObjectId) -> Result<Position, BankError> {
        let account = self
            .accounts
            .find_one(doc! { "userId": user })
            .await?
            .ok_or(BankError::Unauthorized)?;
        Ok(Position {
            seq: account.postings,
            time: ObjectId::new(),
        })
    }

    /// Where `user`'s account stood right after the entry `id` (a client's
    /// `Last-Event-ID`); none when it is not one of the user's entries or
    /// predates posting counts.
    pub async fn position_after(&self, user: ObjectId, id: &str) -> Result<Option<Position>, BankError> {
        let Ok(id) = ObjectId::parse_str(id.trim()) else {
            return Ok(None);
        };
        let entry = self
            .journal
            .find_one(doc! { "_id": id, "$or": [{ "from": user }, { "to": user }] })
            .await?;
        Ok(entry.and_then(|e| e.after_for(user)).map(|after| Position {
            seq: after.seq,
            time: id,
        }))
    }

    /// `user`'s entries after `since`, oldest first, at most `limit` (the
    /// newest ones when there are more).
    pub async fn since(&self, user: ObjectId, since: Position, limit: usize) -> Result<Missed, BankError> {
        let start = since.time.timestamp().timestamp_millis() / 1000 - i64::from(WINDOW_SLACK_SECS);
        let lower = ObjectId::from_bytes(window_start(start.max(0) as u32));
        let (sent, received) = tokio::join!(self.window("from", user, lower), self.window("to", user, lower));
        let (sent, received) = (sent?, received?);
        // A side that filled its read may have more, older, missed entries.
        let later = |side: &Vec<EntryDoc>| side.iter().filter(|e| seq_of(e, user) > since.seq).count();
        let mut gap = [&sent, &received]
            .iter()
            .any(|side| side.len() as i64 == READ_LIMIT && later(side) == side.len());
        let mut entries: Vec<EntryDoc> = sent
            .into_iter()
            .chain(received)
            .filter(|e| seq_of(e, user) > since.seq)
            .collect();
        entries.sort_by_key(|e| seq_of(e, user));
        if entries.len() > limit {
            gap = true;
            entries.drain(..entries.len() - limit);
        }
        Ok(Missed {
            entries: self.live_entries(user, entries).await?,
            gap,
        })
    }

    /// Entries as `user`'s live stream shows them.
    async fn live_entries(&self, user: ObjectId, entries: Vec<EntryDoc>) -> Result<Vec<LiveEntry>, BankError> {
        let mut others: Vec<ObjectId> = entries.iter().map(|e| other_party(user, e)).collect();
        others.sort();
        others.dedup();
        let people = self.names(&others).await?;
        Ok(entries.iter().map(|e| live_entry(user, e, &people)).collect())
    }

    async fn window(&self, side: &str, user: ObjectId, lower: ObjectId) -> Result<Vec<EntryDoc>, BankError> {
        let cursor = self
            .journal
            .find(doc! { side: user, "_id": { "$gte": lower } })
            .sort(doc! { "_id": -1 })
            .limit(READ_LIMIT)
            .await?;
        Ok(cursor.try_collect().await?)
    }
}

/// The entry `entry` as `user`'s live stream shows it; the other party's
/// name from `people`.
pub(crate) fn live_entry(user: ObjectId, entry: &EntryDoc, people: &[UserSummary]) -> LiveEntry {
    let after = entry.after_for(user);
    LiveEntry {
        entry: seen_by(user, entry.clone(), people),
        balance: after.map(|a| Money::from_paise(a.balance)),
        seq: after.map(|a| a.seq),
    }
}

/// An entry's place in `user`'s order; entries without one sort first and
/// never count as missed.
fn seq_of(entry: &EntryDoc, user: ObjectId) -> i64 {
    entry.after_for(user).map_or(i64::MIN, |a| a.seq)
}

/// The smallest id made at `secs` (seconds since the epoch).
fn window_start(secs: u32) -> [u8; 12] {
    let mut bytes = [0; 12];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    bytes
}
