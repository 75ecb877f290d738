//! Payment requests: a user asks another for an amount. The payer pays
//! (one transaction: the journal entry that pays it, exactly once however
//! often it is sent), declines (optionally blocking the requester) or lets
//! it expire after [`REQUEST_LIFETIME`]; the requester may cancel. Expiry is
//! a state, read from `expiresAt`, never a deletion.
//!
//! Paying writes nothing a transfer does not (measured on SecantusDB: an
//! update of the request cost a quarter of a transfer). Whether a request
//! was paid is the journal's: the entry of kind `request` naming it, at
//! most one (a unique index on `request`); its document keeps saying
//! `pending`. A decline or cancel sets the document's `status` and, in the
//! same transaction, lists the request on the requester's account
//! ([`ClosedRequest`], for [`CLOSED_KEPT`]). A payment reads the request
//! before it starts, so only a payment already under way when the close
//! committed can miss the status; its credit reads that account anyway and
//! refuses a request listed there, and a close that commits while a
//! payment runs conflicts with the payment's write of the same account:
//! whichever loses reruns and finds the request closed. (What a payment
//! reads first usually comes from memory, kept by the live feed: `asks.rs`
//! says why that is as good as the read.)

use super::history::unknown;
use super::journal::ISSUER;
use super::store::{AccountDoc, ClosedRequest, EntryDoc};
use super::{store, validate, Bank};
use crate::model::{EntryKind, PaymentRequest, Receipt, RequestStatus};
use crate::money::Money;
use crate::server::bank::error::BankError;
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
const LIST_LIMIT: usize = 100;
/// Requests read at a time while looking for those in one state.
const LIST_PAGE: i64 = 200;
/// Pages of requests one list reads at most: a state filter looks at the
/// 2,000 newest of the caller's requests that can be in that state (a
/// paid request's document still says pending).
const LIST_PAGES: usize = 10;
/// How long a closed request stays listed on its requester's account: far
/// longer than any payment can run (a request's 10 s time limit) or than a
/// payment's memory of the request may lag (`asks.rs`'s `LAG_LIMIT`), with
/// instances' clocks minutes apart; short, so the list stays small.
pub const CLOSED_KEPT: Duration = Duration::from_secs(600);

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
    /// `pending`, `declined` or `cancelled`; `paid` only on requests paid
    /// by the first release of requests (since, the journal says it: read
    /// through [`Bank::settled`]).
    pub status: String,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
    #[serde(rename = "expiresAt")]
    pub expires_at: DateTime,
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
    async fn at_pending_limit(&self, session: &mut ClientSession, requester: ObjectId) -> Result<bool, BankError> {
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

    /// The payer pays request `id`: the journal entry of kind `request`
    /// naming it. The receipt names the entry and the payer's balance after
    /// it.
    pub async fn pay_request(&self, payer: ObjectId, id: &str) -> Result<Receipt, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::NoSuchRequest)?;
        // The ask never changes: kept by the live feed (`asks.rs`), else
        // read once, outside.
        let request = match self.asks.get(id, self.now()) {
            Some(ask) => Some(ask),
            None => self.requests.find_one(doc! { "_id": id }).await?,
        };
        let request = request.filter(|r| r.from == payer).ok_or(BankError::NoSuchRequest)?;
        if request.status != "pending" {
            return Err(BankError::NotPending);
        }
        self.outage.check()?;
        let deadline = self.deadline();
        let _turn = self.locks.lock_pair(&request.from, &request.to, deadline).await?;
        let context = (self, &request);
        self.in_transaction(deadline, context, |session, (bank, request)| {
            bank.pay_once(session, request).boxed()
        })
        .await
    }

    /// Whether a payment of request `id` would start from what the live
    /// feed keeps (`asks.rs`) rather than a read.
    pub fn pays_from_memory(&self, id: &str) -> bool {
        ObjectId::parse_str(id).is_ok_and(|id| self.asks.get(id, self.now()).is_some())
    }

    async fn pay_once(&self, session: &mut ClientSession, request: &RequestDoc) -> Result<Receipt, BankError> {
        if request.expires_at <= self.now() {
            return Err(BankError::NotPending);
        }
        let amount = Money::from_paise(request.amount);
        // Refused for the balance: nothing is written, it stays pending
        // (unless it was paid already: then that is the answer).
        let Some(sender) = self.debit(session, request.from, amount).await? else {
            return Err(self.unless_paid(session, request, BankError::InsufficientBalance).await);
        };
        // Declined or cancelled: listed on the requester's account (a close
        // committing meanwhile conflicts with this write of it).
        let closed = |account: &AccountDoc| {
            let listed = account.closed_requests.iter().any(|c| c.id == request.id);
            if listed {
                Err(BankError::NotPending)
            } else {
                Ok(())
            }
        };
        let recipient = match self.credit_admitting(session, request.to, amount, closed).await {
            Err(BankError::RecipientLimit) => {
                return Err(self.unless_paid(session, request, BankError::RecipientLimit).await);
            }
            credited => credited?,
        };
        let mut entry = EntryDoc::new(EntryKind::Request, request.from, request.to, amount);
        entry.note = request.note.clone();
        entry.request = Some(request.id);
        entry.from_after = Some(sender);
        entry.to_after = Some(recipient);
        // A payment of it already committed: the journal's unique index.
        match self.record(session, std::slice::from_ref(&entry)).await {
            Err(BankError::Db(e)) if store::is_duplicate_key(&e) => return Err(BankError::NotPending),
            recorded => recorded?,
        }
        Ok(Receipt {
            transfer_id: entry.id.to_hex(),
            balance: Money::from_paise(sender.balance),
        })
    }

    /// `refusal`, or [`BankError::NotPending`] if the request was paid: a
    /// paid request's document still says pending, so a payment of it
    /// again can reach a refusal before the journal's unique index.
    async fn unless_paid(&self, session: &mut ClientSession, request: &RequestDoc, refusal: BankError) -> BankError {
        match self
            .journal
            .find_one(doc! { "request": request.id })
            .session(session)
            .await
        {
            Ok(Some(_)) => BankError::NotPending,
            Ok(None) => refusal,
            Err(e) => e.into(),
        }
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

    /// Closes a pending, unexpired request of the caller (`party`) as
    /// `status`, in a transaction with the requester's account.
    async fn close(&self, mut party: Document, id: &str, status: &str) -> Result<RequestDoc, BankError> {
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

    async fn close_once(
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

    /// Requests as they stand, both parties named.
    pub(crate) async fn views(&self, requests: Vec<RequestDoc>) -> Result<Vec<PaymentRequest>, BankError> {
        let requests = self.settled(requests).await?;
        self.named(requests).await
    }

    /// `requests` as they stand: those whose document still says pending
    /// are paid if the journal has their entry (one read).
    async fn settled(&self, mut requests: Vec<RequestDoc>) -> Result<Vec<RequestDoc>, BankError> {
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
    async fn named(&self, requests: Vec<RequestDoc>) -> Result<Vec<PaymentRequest>, BankError> {
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

    fn now(&self) -> DateTime {
        DateTime::now()
    }
}

/// The state of a settled request at `now`.
fn status_of(request: &RequestDoc, now: DateTime) -> RequestStatus {
    match request.status.as_str() {
        "pending" if request.expires_at <= now => RequestStatus::Expired,
        other => RequestStatus::parse(other).unwrap_or(RequestStatus::Pending),
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
