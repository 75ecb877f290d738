//! Declining (optionally blocking the requester) and cancelling a request:
//! its status, and the request listed on the requester's account.

use super::views::status_of;
use super::{RequestDoc, CLOSED_KEPT};
use crate::model::{PaymentRequest, RequestStatus};
use crate::server::bank::error::BankError;
use crate::server::bank::store::ClosedRequest;
use crate::server::bank::Bank;
use futures::FutureExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::ClientSession;

impl Bank {
    /// The payer declines; with `block`, the requester's further requests
    /// to them are refused.
    pub async fn decline_request(&self, payer: ObjectId, id: &str, block: bool) -> Result<PaymentRequest, BankError> {
        let declined = self.close(doc! { "from": payer }, id, "declined").await?;
        if block {
            let key = doc! { "blocker": payer, "blocked": declined.to };
            self.blocks
                .update_one(
                    doc! { "_id": &key },
                    doc! { "$setOnInsert": { "_id": &key, "createdAt": DateTime::now() } },
                )
                .upsert(true)
                .await?;
        }
        Ok(self.views(vec![declined]).await?.remove(0))
    }

    /// The requester cancels.
    pub async fn cancel_request(&self, requester: ObjectId, id: &str) -> Result<PaymentRequest, BankError> {
        let cancelled = self.close(doc! { "to": requester }, id, "cancelled").await?;
        Ok(self.views(vec![cancelled]).await?.remove(0))
    }

    /// Closes a pending, unexpired request of the caller (`party`) as
    /// `status`, in a transaction with the requester's account.
    pub(super) async fn close(&self, mut party: Document, id: &str, status: &str) -> Result<RequestDoc, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::NoSuchRequest)?;
        party.insert("_id", id);
        let request = self.requests.find_one(party).await?.ok_or(BankError::NoSuchRequest)?;
        if status_of(&request, self.now()) != RequestStatus::Pending {
            return Err(BankError::NotPending);
        }
        let context = (self, &request, status);
        self.in_transaction(self.deadline(), context, |session, (bank, request, status)| {
            bank.close_once(session, request, status).boxed()
        })
        .await?;
        let mut closed = request;
        closed.status = status.to_owned();
        Ok(closed)
    }

    pub(super) async fn close_once(
        &self,
        session: &mut ClientSession,
        request: &RequestDoc,
        status: &str,
    ) -> Result<(), BankError> {
        let paid = self
            .journal
            .find_one(doc! { "request": request.id })
            .session(&mut *session)
            .await?;
        if paid.is_some() {
            return Err(BankError::NotPending);
        }
        let now = self.now();
        let changed = self
            .requests
            .update_one(
                doc! { "_id": request.id, "status": "pending", "expiresAt": { "$gt": now } },
                doc! { "$set": { "status": status } },
            )
            .session(&mut *session)
            .await?;
        if changed.modified_count != 1 {
            return Err(BankError::NotPending);
        }
        let account = self
            .accounts
            .find_one(doc! { "userId": request.to })
            .session(&mut *session)
            .await?
            .ok_or(BankError::InvalidAccount)?;
        // Those closed before any payment still running began: dropped.
        let kept_since = now.timestamp_millis() - CLOSED_KEPT.as_millis() as i64;
        let mut closed: Vec<ClosedRequest> = account
            .closed_requests
            .into_iter()
            .filter(|c| c.closed_at.timestamp_millis() > kept_since)
            .collect();
        closed.push(ClosedRequest {
            id: request.id,
            closed_at: now,
        });
        let closed = mongodb::bson::to_bson(&closed).map_err(|e| BankError::Internal(e.to_string()))?;
        self.accounts
            .update_one(
                doc! { "userId": request.to },
                doc! { "$set": { "closedRequests": closed } },
            )
            .session(session)
            .await?;
        Ok(())
    }
}
