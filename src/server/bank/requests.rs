//! Payment requests: a user asks another for an amount. The payer pays
//! (one transaction: the request's change from pending to paid and the
//! journal entry, exactly once however often it is sent), declines
//! (optionally blocking the requester) or lets it expire after
//! [`REQUEST_LIFETIME`]; the requester may cancel. Expiry is a state, read
//! from `expiresAt`, never a deletion.

use super::history::unknown;
use super::journal::ISSUER;
use super::store::EntryDoc;
use super::{validate, Bank};
use crate::model::{EntryKind, PaymentRequest, Receipt, RequestStatus};
use crate::money::Money;
use crate::server::error::BankError;
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const REQUESTS: &str = "requests";
/// Who refuses requests from whom (`_id: {blocker, blocked}`).
pub const BLOCKS: &str = "requestBlocks";
/// How long a request can be paid.
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Pending requests one user may have asked for at once.
pub const MAX_PENDING: u64 = 20;
/// Requests listed at once.
const LIST_LIMIT: i64 = 100;

/// A request as stored. `from` is asked to pay `to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RequestDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub from: ObjectId,
    pub to: ObjectId,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// `pending`, `paid`, `declined` or `cancelled` (expired: pending past `expiresAt`).
    pub status: String,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
    #[serde(rename = "expiresAt")]
    pub expires_at: DateTime,
    /// The journal entry that paid it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entry: Option<ObjectId>,
}

/// Whose requests to list: those asking the caller to pay, or those the
/// caller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Incoming,
    Outgoing,
}

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
            entry: None,
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
                let pending = bank
                    .requests
                    .count_documents(doc! { "to": request.to, "status": "pending", "expiresAt": { "$gt": bank.now() } })
                    .session(&mut *session)
                    .await?;
                if pending >= MAX_PENDING {
                    return Err(BankError::TooManyRequests);
                }
                bank.requests.insert_one(&**request).session(&mut *session).await?;
                Ok(())
            }
            .boxed()
        })
        .await?;
        Ok(self.views(vec![request]).await?.remove(0))
    }

    /// The caller's requests in one role and state, newest first.
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
            Some(other) => {
                filter.insert("status", status_text(other));
            }
        }
        let found: Vec<RequestDoc> = self
            .requests
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(LIST_LIMIT)
            .await?
            .try_collect()
            .await?;
        self.views(found).await
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

    /// The payer pays request `id`: the journal entry (kind `request`,
    /// linked to it) and its change to paid in one transaction. The receipt
    /// names the entry and the payer's balance after it.
    pub async fn pay_request(&self, payer: ObjectId, id: &str) -> Result<Receipt, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::NoSuchRequest)?;
        // Who and how much never change once asked: read once, outside.
        let request = self
            .requests
            .find_one(doc! { "_id": id })
            .await?
            .filter(|r| r.from == payer)
            .ok_or(BankError::NoSuchRequest)?;
        self.outage.check()?;
        let deadline = self.deadline();
        let _turn = self.locks.lock_pair(&request.from, &request.to, deadline).await?;
        let context = (self, &request);
        self.in_transaction(deadline, context, |session, (bank, request)| {
            bank.pay_once(session, request).boxed()
        })
        .await
    }

    async fn pay_once(&self, session: &mut ClientSession, request: &RequestDoc) -> Result<Receipt, BankError> {
        let amount = Money::from_paise(request.amount);
        let mut entry = EntryDoc::new(EntryKind::Request, request.from, request.to, amount);
        // Only a pending, unexpired request is paid: one conditional change
        // (found by `_id`, then its state checked: measured on SecantusDB,
        // no scan), so a concurrent payment of it conflicts and its rerun
        // finds it paid.
        let paid = self
            .requests
            .update_one(
                doc! { "_id": request.id, "status": "pending", "expiresAt": { "$gt": self.now() } },
                doc! { "$set": { "status": "paid", "entry": entry.id } },
            )
            .session(&mut *session)
            .await?;
        if paid.matched_count == 0 {
            return Err(BankError::NotPending);
        }
        // Refused for the balance: the abort leaves the request pending.
        let sender = self
            .debit(session, request.from, amount)
            .await?
            .ok_or(BankError::InsufficientBalance)?;
        let recipient = self.credit(session, request.to, amount).await?;
        entry.note = request.note.clone();
        entry.request = Some(request.id);
        entry.from_after = Some(sender);
        entry.to_after = Some(recipient);
        self.record(session, std::slice::from_ref(&entry)).await?;
        Ok(Receipt {
            transfer_id: entry.id.to_hex(),
            balance: Money::from_paise(sender.balance),
        })
    }

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

    /// Moves a pending, unexpired request of the caller (`party`) to `status`.
    async fn close(&self, mut party: Document, id: &str, status: &str) -> Result<RequestDoc, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::NoSuchRequest)?;
        party.insert("_id", id);
        let mut pending = party.clone();
        pending.insert("status", "pending");
        pending.insert("expiresAt", doc! { "$gt": self.now() });
        let changed = self
            .requests
            .update_one(pending, doc! { "$set": { "status": status } })
            .await?;
        let request = self.requests.find_one(party).await?.ok_or(BankError::NoSuchRequest)?;
        if changed.modified_count != 1 {
            return Err(BankError::NotPending);
        }
        Ok(request)
    }

    /// The requests with these ids, as they are now (those that exist).
    pub(crate) async fn requests_by_id(&self, ids: &[ObjectId]) -> Result<Vec<RequestDoc>, BankError> {
        Ok(self
            .requests
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await?)
    }

    async fn user_exists(&self, id: ObjectId) -> Result<bool, BankError> {
        let found = self
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": id })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    /// Requests with both parties named (one read).
    pub(crate) async fn views(&self, requests: Vec<RequestDoc>) -> Result<Vec<PaymentRequest>, BankError> {
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
                status: match r.status.as_str() {
                    "pending" if r.expires_at <= now => RequestStatus::Expired,
                    other => RequestStatus::parse(other).unwrap_or(RequestStatus::Pending),
                },
                note: r.note,
                created_at: r.created_at.timestamp_millis(),
                expires_at: r.expires_at.timestamp_millis(),
            })
            .collect())
    }

    fn now(&self) -> DateTime {
        DateTime::now()
    }
}

fn status_text(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending | RequestStatus::Expired => "pending",
        RequestStatus::Paid => "paid",
        RequestStatus::Declined => "declined",
        RequestStatus::Cancelled => "cancelled",
    }
}
