//! The people a user last paid or was paid by, from the journal: the few
//! friends one pays again and again, one tap away.

use super::history::other_party;
use super::journal::ISSUER;
use super::store::EntryDoc;
use super::Bank;
use crate::model::UserSummary;
use crate::server::bank::error::BankError;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId};

/// Entries read from each side of the account to find them.
const LOOK_BACK: i64 = 50;

impl Bank {
    /// Up to `limit` distinct people from `user`'s newest entries, most
    /// recent first (grants and openings, from the bank itself, left out).
    pub async fn recent_people(&self, user: ObjectId, limit: usize) -> Result<Vec<UserSummary>, BankError> {
        let newest = |side: &'static str| async move {
            let cursor = self
                .journal
                .find(doc! { side: user })
                .sort(doc! { "_id": -1 })
                .limit(LOOK_BACK)
                .projection(doc! { "from": 1, "to": 1, "amount": 1, "createdAt": 1 })
                .await?;
            cursor.try_collect::<Vec<EntryDoc>>().await
        };
        let (sent, received) = tokio::join!(newest("from"), newest("to"));
        let mut entries: Vec<EntryDoc> = sent?.into_iter().chain(received?).collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.id));
        let mut people: Vec<ObjectId> = Vec::new();
        for other in entries.iter().map(|e| other_party(user, e)) {
            if other != ISSUER && !people.contains(&other) {
                people.push(other);
                if people.len() == limit {
                    break;
                }
            }
        }
        let named = self.names(&people).await?;
        // In recency order; a user whose record is gone is left out.
        Ok(people
            .iter()
            .filter_map(|id| named.iter().find(|p| p.id == id.to_hex()).cloned())
            .collect())
    }
}
