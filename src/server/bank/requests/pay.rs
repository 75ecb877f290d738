//! Paying a request: the journal entry that pays it, exactly once.

use super::RequestDoc;
use crate::model::{EntryKind, Receipt};
use crate::money::Money;
use crate::server::bank::error::BankError;
use crate::server::bank::store::{AccountDoc, EntryDoc};
use crate::server::bank::{store, Bank};
use futures::FutureExt;
use mongodb::bson::{doc, oid::ObjectId};
use mongodb::ClientSession;

impl Bank {
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

    pub(super) async fn pay_once(
        &self,
        session: &mut ClientSession,
        request: &RequestDoc,
    ) -> Result<Receipt, BankError> {
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
    pub(super) async fn unless_paid(
        &self,
        session: &mut ClientSession,
        request: &RequestDoc,
        refusal: BankError,
    ) -> BankError {
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
}
