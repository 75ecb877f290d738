//! Asking someone for money: one request, within the pending limit.

use super::{RequestDoc, LIST_PAGE, MAX_PENDING};
use crate::model::PaymentRequest;
use crate::money::Money;
use crate::server::bank::error::BankError;
use crate::server::bank::journal::ISSUER;
use crate::server::bank::{validate, Bank};
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::ClientSession;

impl Bank {
    /// `to` asks `from` (a user id) for `amount`, with an optional note.
    pub async fn request(
        &self,
        to: ObjectId,
        from: &str,
        amount: Money,
        note: Option<&str>,
    ) -> Result<PaymentRequest, BankError> {
        let from = ObjectId::parse_str(from.trim()).map_err(|_| BankError::InvalidAccount)?;
        let amount = validate::amount(amount)?;
        let note = validate::note(note)?;
        if from == to || from == ISSUER || !self.user_exists(from).await? {
            return Err(BankError::InvalidAccount);
        }
        let blocked = self
            .blocks
            .find_one(doc! { "_id": { "blocker": from, "blocked": to } })
            .await?;
        if blocked.is_some() {
            return Err(BankError::InvalidAccount);
        }
        let now = self.now();
        let request = RequestDoc {
            id: ObjectId::new(),
            from,
            to,
            amount: amount.paise(),
            note,
            status: "pending".into(),
            created_at: now,
            expires_at: DateTime::from_millis(now.timestamp_millis() + self.request_lifetime.as_millis() as i64),
        };
        let context = (self, &request);
        self.in_transaction(self.deadline(), context, |session, (bank, request)| {
            async move {
                // Requests by one user take turns (a write to their user
                // record), so the count below cannot be raced past.
                bank.users
                    .update_one(doc! { "_id": request.to }, doc! { "$inc": { "requestsMade": 1_i64 } })
                    .session(&mut *session)
                    .await?;
                if bank.at_pending_limit(session, request.to).await? {
                    return Err(BankError::PendingLimit);
                }
                bank.requests.insert_one(&**request).session(&mut *session).await?;
                Ok(())
            }
            .boxed()
        })
        .await?;
        Ok(self.views(vec![request]).await?.remove(0))
    }

    /// Whether `requester` has [`MAX_PENDING`] requests pending: those not
    /// expired, less those paid (read newest first, a page at a time, until
    /// that many are found).
    pub(super) async fn at_pending_limit(
        &self,
        session: &mut ClientSession,
        requester: ObjectId,
    ) -> Result<bool, BankError> {
        let mut filter = doc! { "to": requester, "status": "pending", "expiresAt": { "$gt": self.now() } };
        let mut pending = 0;
        loop {
            let page: Vec<Document> = self
                .requests
                .clone_with_type::<Document>()
                .find(filter.clone())
                .projection(doc! { "_id": 1 })
                .sort(doc! { "_id": -1 })
                .limit(LIST_PAGE)
                .session(&mut *session)
                .await?
                .stream(&mut *session)
                .try_collect()
                .await?;
            let ids: Vec<ObjectId> = page.iter().filter_map(|d| d.get_object_id("_id").ok()).collect();
            let Some(&oldest) = ids.last() else {
                return Ok(false);
            };
            let paid = self
                .journal
                .count_documents(doc! { "request": { "$in": &ids } })
                .session(&mut *session)
                .await?;
            pending += (ids.len() as u64).saturating_sub(paid);
            if pending >= MAX_PENDING {
                return Ok(true);
            }
            if (ids.len() as i64) < LIST_PAGE {
                return Ok(false);
            }
            filter.insert("_id", doc! { "$lt": oldest });
        }
    }
}
