//! Requests as their parties see them: read by id, settled (paid or not,
//! from the journal) and named.

use super::RequestDoc;
use crate::model::{PaymentRequest, RequestStatus};
use crate::money::Money;
use crate::server::bank::error::BankError;
use crate::server::bank::history::unknown;
use crate::server::bank::Bank;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};

impl Bank {
    /// The requests with these ids, as they are now (those that exist).
    pub(crate) async fn requests_by_id(&self, ids: &[ObjectId]) -> Result<Vec<RequestDoc>, BankError> {
        Ok(self
            .requests
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await?)
    }

    pub(super) async fn user_exists(&self, id: ObjectId) -> Result<bool, BankError> {
        let found = self
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": id })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    /// Requests as they stand, both parties named.
    pub(crate) async fn views(&self, requests: Vec<RequestDoc>) -> Result<Vec<PaymentRequest>, BankError> {
        let requests = self.settled(requests).await?;
        self.named(requests).await
    }

    /// `requests` as they stand: those whose document still says pending
    /// are paid if the journal has their entry (one read).
    pub(super) async fn settled(&self, mut requests: Vec<RequestDoc>) -> Result<Vec<RequestDoc>, BankError> {
        let open: Vec<ObjectId> = requests
            .iter()
            .filter(|r| r.status == "pending")
            .map(|r| r.id)
            .collect();
        if open.is_empty() {
            return Ok(requests);
        }
        let paid: Vec<Document> = self
            .journal
            .clone_with_type::<Document>()
            .find(doc! { "request": { "$in": &open } })
            .projection(doc! { "request": 1 })
            .await?
            .try_collect()
            .await?;
        for id in paid.iter().filter_map(|e| e.get_object_id("request").ok()) {
            if let Some(request) = requests.iter_mut().find(|r| r.id == id) {
                request.status = "paid".to_owned();
            }
        }
        Ok(requests)
    }

    /// Settled requests with both parties named (one read).
    pub(super) async fn named(&self, requests: Vec<RequestDoc>) -> Result<Vec<PaymentRequest>, BankError> {
        let mut ids: Vec<ObjectId> = requests.iter().flat_map(|r| [r.from, r.to]).collect();
        ids.sort();
        ids.dedup();
        let people = self.names(&ids).await?;
        let name = |id: ObjectId| {
            let hex = id.to_hex();
            people
                .iter()
                .find(|p| p.id == hex)
                .cloned()
                .unwrap_or_else(|| unknown(id))
        };
        let now = self.now();
        Ok(requests
            .into_iter()
            .map(|r| PaymentRequest {
                id: r.id.to_hex(),
                from: name(r.from),
                to: name(r.to),
                amount: Money::from_paise(r.amount),
                status: status_of(&r, now),
                note: r.note,
                created_at: r.created_at.timestamp_millis(),
                expires_at: r.expires_at.timestamp_millis(),
            })
            .collect())
    }

    pub(super) fn now(&self) -> DateTime {
        DateTime::now()
    }
}

/// The state of a settled request at `now`.
pub(super) fn status_of(request: &RequestDoc, now: DateTime) -> RequestStatus {
    match request.status.as_str() {
        "pending" if request.expires_at <= now => RequestStatus::Expired,
        other => RequestStatus::parse(other).unwrap_or(RequestStatus::Pending),
    }
}

pub(super) fn status_text(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending | RequestStatus::Expired => "pending",
        RequestStatus::Paid => "paid",
        RequestStatus::Declined => "declined",
        RequestStatus::Cancelled => "cancelled",
    }
}
