//! The requests a user sees: those asking them to pay, those they asked for.

use super::views::{status_of, status_text};
use super::{RequestDoc, Role, LIST_LIMIT, LIST_PAGE, LIST_PAGES};
use crate::model::{PaymentRequest, RequestStatus};
use crate::server::bank::error::BankError;
use crate::server::bank::Bank;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId};

impl Bank {
    /// The caller's requests in one role and state, newest first (at most
    /// [`LIST_LIMIT`]).
    pub async fn requests(
        &self,
        user: ObjectId,
        role: Role,
        status: Option<RequestStatus>,
    ) -> Result<Vec<PaymentRequest>, BankError> {
        let mut filter = match role {
            Role::Incoming => doc! { "from": user },
            Role::Outgoing => doc! { "to": user },
        };
        let now = self.now();
        // What the stored document can rule out: a paid request's still
        // says `pending`.
        match status {
            None => {}
            Some(RequestStatus::Pending) => {
                filter.insert("status", "pending");
                filter.insert("expiresAt", doc! { "$gt": now });
            }
            Some(RequestStatus::Expired) => {
                filter.insert("status", "pending");
                filter.insert("expiresAt", doc! { "$lte": now });
            }
            Some(RequestStatus::Paid) => {
                filter.insert("status", doc! { "$in": ["pending", "paid"] });
            }
            Some(closed) => {
                filter.insert("status", status_text(closed));
            }
        }
        let mut listed = Vec::new();
        let mut before: Option<ObjectId> = None;
        for _ in 0..LIST_PAGES {
            let mut page_filter = filter.clone();
            if let Some(before) = before {
                page_filter.insert("_id", doc! { "$lt": before });
            }
            let page_size = if status.is_none() { LIST_LIMIT as i64 } else { LIST_PAGE };
            let page: Vec<RequestDoc> = self
                .requests
                .find(page_filter)
                .sort(doc! { "_id": -1 })
                .limit(page_size)
                .await?
                .try_collect()
                .await?;
            let full = page.len() as i64 == page_size;
            before = page.last().map(|r| r.id);
            let page = self.settled(page).await?;
            listed.extend(
                page.into_iter()
                    .filter(|r| status.is_none_or(|wanted| status_of(r, now) == wanted)),
            );
            if listed.len() >= LIST_LIMIT || !full || status.is_none() {
                break;
            }
        }
        listed.truncate(LIST_LIMIT);
        self.named(listed).await
    }

    /// Request `id` asking `payer` to pay, whatever its state (the confirm
    /// step shows it before anything moves).
    pub async fn incoming_request(&self, payer: ObjectId, id: &str) -> Result<PaymentRequest, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::NoSuchRequest)?;
        let request = self
            .requests
            .find_one(doc! { "_id": id, "from": payer })
            .await?
            .ok_or(BankError::NoSuchRequest)?;
        Ok(self.views(vec![request]).await?.remove(0))
    }
}
