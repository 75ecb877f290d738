//! The journal: every movement of money is one immutable entry of `amount`
//! from one holder to another, a debit of `from` and a credit of `to`, so
//! its two postings sum to zero. Money enters only from the issuer, a
//! system account that is not a user and the only one allowed below zero:
//! its balance is minus everything ever issued. Each account keeps its
//! balance with the running totals that explain it (`debits`, `credits`:
//! balance = credits − debits), changed only in the transaction that
//! records the entry, so each account can be checked without summing its
//! history (`audit.rs` does both).

use super::store::{is_duplicate_key, AccountDoc, After, EntryDoc};
use super::Bank;
use crate::model::EntryKind;
use crate::money::{Money, MAX_PAISE};
use crate::server::bank::error::BankError;
use mongodb::bson::{doc, oid::ObjectId, DateTime};
use mongodb::ClientSession;

/// The issuer's holder id: no user can have it (an ObjectId made now never
/// has a zero timestamp), so no transfer, search or sign-in can reach it.
pub const ISSUER: ObjectId = ObjectId::from_bytes([0; 12]);

/// The most an account may hold: ₹1,00,00,00,000.00, the largest amount
/// there is. A credit that would pass it is refused.
pub const MAX_BALANCE: Money = Money::from_paise(MAX_PAISE);

impl Bank {
    /// Creates the issuer's account unless it exists. Idempotent, and safe
    /// with several instances starting at once (the unique `userId` index
    /// lets one insert win).
    pub async fn ensure_issuer(&self) -> Result<(), BankError> {
        let issuer = doc! {
            "userId": ISSUER,
            "balance": 0_i64,
            "debits": 0_i64,
            "credits": 0_i64,
        };
        let result = self
            .accounts
            .clone_with_type::<mongodb::bson::Document>()
            .update_one(doc! { "userId": ISSUER }, doc! { "$setOnInsert": issuer })
            .upsert(true)
            .await;
        match result {
            Err(e) if is_duplicate_key(&e) => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// The issuer's side of entries that give out `given` and take back
    /// `taken` (it alone may go below zero).
    pub(super) async fn post_issuer(
        &self,
        session: &mut ClientSession,
        given: Money,
        taken: Money,
    ) -> Result<(), BankError> {
        let (given, taken) = (given.paise(), taken.paise());
        let issued = self
            .accounts
            .update_one(
                doc! { "userId": ISSUER },
                doc! { "$inc": { "balance": taken - given, "debits": given, "credits": taken } },
            )
            .session(session)
            .await?;
        if issued.matched_count != 1 {
            return Err(BankError::Internal("the issuer account is missing".into()));
        }
        Ok(())
    }

    /// Takes `amount` from `holder` if its balance covers it; returns how
    /// the account stands after, or none. Read, check, then debit on the same
    /// condition: in a snapshot transaction a concurrent change to this
    /// account makes the debit a write conflict (rerun), so the balance read
    /// is the one debited. (Plain reads and updates: SecantusDB serves them
    /// from the index, but scans the collection for a findAndModify.)
    pub(super) async fn debit(
        &self,
        session: &mut ClientSession,
        holder: ObjectId,
        amount: Money,
    ) -> Result<Option<After>, BankError> {
        let paise = amount.paise();
        let account = self
            .accounts
            .find_one(doc! { "userId": holder })
            .session(&mut *session)
            .await?
            .ok_or(BankError::Unauthorized)?;
        if account.balance < paise {
            return Ok(None);
        }
        let debited = self
            .accounts
            .update_one(
                doc! { "userId": holder, "balance": { "$gte": paise } },
                doc! { "$inc": { "balance": -paise, "debits": paise, "postings": 1 } },
            )
            .session(session)
            .await?;
        Ok((debited.modified_count == 1).then_some(After {
            balance: account.balance - paise,
            seq: account.postings + 1,
        }))
    }

    /// Gives `amount` to the user `holder`; returns how the account stands
    /// after. Refused (`InvalidAccount`) when there is no such account, or
    /// (`RecipientLimit`) when it would hold more than [`MAX_BALANCE`].
    /// Read, then credit, as the debit does: the snapshot makes the read
    /// the state credited.
    pub(super) async fn credit(
        &self,
        session: &mut ClientSession,
        holder: ObjectId,
        amount: Money,
    ) -> Result<After, BankError> {
        self.credit_admitting(session, holder, amount, |_| Ok(())).await
    }

    /// [`Bank::credit`], refused with `admit`'s error when the account
    /// read says so.
    pub(super) async fn credit_admitting(
        &self,
        session: &mut ClientSession,
        holder: ObjectId,
        amount: Money,
        admit: impl FnOnce(&AccountDoc) -> Result<(), BankError>,
    ) -> Result<After, BankError> {
        let paise = amount.paise();
        let ceiling = MAX_BALANCE.paise() - paise;
        let account = self
            .accounts
            .find_one(doc! { "userId": holder })
            .session(&mut *session)
            .await?
            .ok_or(BankError::InvalidAccount)?;
        admit(&account)?;
        if account.balance > ceiling {
            return Err(BankError::RecipientLimit);
        }
        let credited = self
            .accounts
            .update_one(
                doc! { "userId": holder, "balance": { "$lte": ceiling } },
                doc! { "$inc": { "balance": paise, "credits": paise, "postings": 1 } },
            )
            .session(&mut *session)
            .await?;
        if credited.matched_count != 1 {
            return Err(BankError::RecipientLimit);
        }
        Ok(After {
            balance: account.balance + paise,
            seq: account.postings + 1,
        })
    }

    pub(super) async fn has_account(&self, session: &mut ClientSession, holder: ObjectId) -> Result<bool, BankError> {
        let found = self
            .accounts
            .find_one(doc! { "userId": holder })
            .session(session)
            .await?;
        Ok(found.is_some())
    }

    /// Writes entries (whose postings the caller has applied in the same
    /// transaction).
    pub(super) async fn record(&self, session: &mut ClientSession, entries: &[EntryDoc]) -> Result<(), BankError> {
        if !entries.is_empty() {
            self.journal.insert_many(entries).session(session).await?;
        }
        Ok(())
    }
}

impl EntryDoc {
    /// A new entry of `amount` from `from` to `to`.
    pub fn new(kind: EntryKind, from: ObjectId, to: ObjectId, amount: Money) -> EntryDoc {
        EntryDoc {
            id: ObjectId::new(),
            kind,
            from,
            to,
            amount: amount.paise(),
            created_at: DateTime::now(),
            idempotency_key: None,
            note: None,
            request: None,
            from_after: None,
            to_after: None,
        }
    }
}

impl AccountDoc {
    /// A new user's account, its balance explained by a grant.
    pub fn opened_with(user: ObjectId, grant: Money) -> AccountDoc {
        AccountDoc {
            id: ObjectId::new(),
            user_id: user,
            balance: grant.paise(),
            debits: 0,
            credits: grant.paise(),
            postings: i64::from(grant.paise() > 0),
            closed_requests: Vec::new(),
        }
    }
}
