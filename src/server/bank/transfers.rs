//! A transfer, top to bottom: validate, then in one transaction replay
//! (an idempotency key seen before), debit, credit and record, remember the
//! outcome. The postings are `journal.rs`'s; the retry policy around it is
//! `txn.rs`'s.

use super::journal::ISSUER;
use super::store::KEY_LIFETIME;
use super::store::{idempotency_id, After, EntryDoc, IdempotencyDoc};
use super::{validate, Bank};
use crate::model::{EntryKind, Receipt};
use crate::money::Money;
use crate::server::bank::error::BankError;
use futures::FutureExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime};
use mongodb::ClientSession;

/// One transfer, validated.
struct Order {
    from: ObjectId,
    to: ObjectId,
    amount: Money,
    key: Option<String>,
    note: Option<String>,
}

/// What one attempt decided. With an idempotency key a refusal for
/// insufficient balance is an outcome too: it is remembered and committed,
/// so a replay keeps failing even after a top-up.
enum Outcome {
    /// `balance` is the sender's balance after the debit; none on a replay.
    Moved {
        entry: ObjectId,
        balance: Option<Money>,
    },
    Refused,
}

impl Bank {
    /// Moves `amount` from `from` to the user `to` in one transaction:
    /// debit only if the balance covers it, credit, ledger entry. With an
    /// idempotency key, the first outcome (success or insufficient balance)
    /// is stored in the same transaction and every repeat gets it back
    /// without moving money again; the same key for a different recipient
    /// or amount is refused.
    pub async fn transfer(
        &self,
        from: ObjectId,
        to: &str,
        amount: Money,
        idempotency_key: Option<&str>,
    ) -> Result<Receipt, BankError> {
        self.transfer_with_note(from, to, amount, idempotency_key, None).await
    }

    /// [`Bank::transfer`] with the sender's note (see
    /// [`validate::note`]), kept on the entry. A repeat under the same
    /// idempotency key is the same transfer whatever its note.
    pub async fn transfer_with_note(
        &self,
        from: ObjectId,
        to: &str,
        amount: Money,
        idempotency_key: Option<&str>,
        note: Option<&str>,
    ) -> Result<Receipt, BankError> {
        let to = ObjectId::parse_str(to.trim()).map_err(|_| BankError::InvalidAccount)?;
        // Never to oneself, and never to the issuer: money only leaves it.
        if to == from || to == ISSUER {
            return Err(BankError::InvalidAccount);
        }
        let order = Order {
            from,
            to,
            amount: validate::amount(amount)?,
            key: idempotency_key.map(validate::idempotency_key).transpose()?,
            note: validate::note(note)?,
        };
        self.outage.check()?;
        let deadline = self.deadline();
        let _turn = self.locks.lock_pair(&from, &to, deadline).await?;
        // While this waited its turn, the one before may have found the database gone.
        self.outage.check()?;
        let outcome = self
            .in_transaction(deadline, (self, &order), |session, (bank, order)| {
                bank.transfer_once(session, order).boxed()
            })
            .await?;
        match outcome {
            Outcome::Moved { entry, balance } => Ok(Receipt {
                transfer_id: entry.to_hex(),
                balance: match balance {
                    Some(balance) => balance,
                    None => self.balance(from).await?,
                },
            }),
            Outcome::Refused => Err(BankError::InsufficientBalance),
        }
    }

    /// One attempt of the transaction's body.
    async fn transfer_once(&self, session: &mut ClientSession, order: &Order) -> Result<Outcome, BankError> {
        if let Some(first) = self.replay(session, order).await? {
            return Ok(first);
        }
        let outcome = match self.debit(session, order.from, order.amount).await? {
            Some(sender) => Outcome::Moved {
                entry: self.credit_and_record(session, order, sender).await?,
                balance: Some(Money::from_paise(sender.balance)),
            },
            // No recipient: say so (not "insufficient"), and keep no outcome
            // for the key (nothing was a transfer).
            None if !self.has_account(session, order.to).await? => return Err(BankError::InvalidAccount),
            // Nothing to remember: abort.
            None if order.key.is_none() => return Err(BankError::InsufficientBalance),
            None => Outcome::Refused,
        };
        self.remember(session, order, &outcome).await?;
        Ok(outcome)
    }

    /// The first outcome, if this key was used before for the same transfer.
    async fn replay(&self, session: &mut ClientSession, order: &Order) -> Result<Option<Outcome>, BankError> {
        let Some(key) = &order.key else { return Ok(None) };
        let id = idempotency_id(order.from, key);
        let Some(first) = self
            .idempotency
            .find_one(doc! { "_id": &id })
            .session(&mut *session)
            .await?
        else {
            return Ok(None);
        };
        // A key is remembered for its lifetime; past it (removal runs once
        // a minute: `expiry.rs`) it is free for a new transfer.
        let age = DateTime::now().timestamp_millis() - first.created_at.timestamp_millis();
        if age >= KEY_LIFETIME.as_millis() as i64 {
            self.idempotency.delete_one(doc! { "_id": id }).session(session).await?;
            return Ok(None);
        }
        if first.to != order.to || first.amount != order.amount.paise() {
            return Err(BankError::IdempotencyMismatch);
        }
        Ok(Some(match first.transfer {
            Some(entry) => Outcome::Moved { entry, balance: None },
            None => Outcome::Refused,
        }))
    }

    /// Gives the amount to the recipient (a refusal aborts, and so rolls
    /// back the debit) and writes the journal entry, with how both accounts
    /// stand after it.
    async fn credit_and_record(
        &self,
        session: &mut ClientSession,
        order: &Order,
        sender: After,
    ) -> Result<ObjectId, BankError> {
        let recipient = self.credit(session, order.to, order.amount).await?;
        let mut entry = EntryDoc::new(EntryKind::Transfer, order.from, order.to, order.amount);
        entry.idempotency_key = order.key.clone();
        entry.note = order.note.clone();
        entry.from_after = Some(sender);
        entry.to_after = Some(recipient);
        self.record(session, std::slice::from_ref(&entry)).await?;
        Ok(entry.id)
    }

    /// Stores the outcome under the idempotency key, if there is one. A
    /// concurrent duplicate inserting the same id makes one of the two
    /// conflict and retry; the retry then finds this one.
    async fn remember(&self, session: &mut ClientSession, order: &Order, outcome: &Outcome) -> Result<(), BankError> {
        let Some(key) = &order.key else { return Ok(()) };
        let first = IdempotencyDoc {
            id: idempotency_id(order.from, key),
            from: order.from,
            key: key.clone(),
            to: order.to,
            amount: order.amount.paise(),
            transfer: match outcome {
                Outcome::Moved { entry, .. } => Some(*entry),
                Outcome::Refused => None,
            },
            created_at: DateTime::now(),
        };
        self.idempotency.insert_one(&first).session(session).await?;
        Ok(())
    }
}
