//! A transfer, top to bottom: validate, then in one transaction replay
//! (an idempotency key seen before), debit, credit and record, remember the
//! outcome. The retry policy around it is `txn.rs`'s.

use super::store::{IdempotencyDoc, IdempotencyId, TransferDoc};
use super::{validate, Bank};
use crate::model::Receipt;
use crate::money::Money;
use crate::server::error::BankError;
use futures::FutureExt;
use mongodb::bson::{doc, oid::ObjectId, DateTime};
use mongodb::ClientSession;

/// One transfer, validated.
struct Order {
    from: ObjectId,
    to: ObjectId,
    amount: Money,
    key: Option<String>,
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
        let to = ObjectId::parse_str(to.trim()).map_err(|_| BankError::InvalidAccount)?;
        if to == from {
            return Err(BankError::InvalidAccount);
        }
        let order = Order {
            from,
            to,
            amount: validate::amount(amount)?,
            key: idempotency_key.map(validate::idempotency_key).transpose()?,
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
        let outcome = match self.debit(session, order).await? {
            Some(balance) => Outcome::Moved {
                entry: self.credit_and_record(session, order).await?,
                balance: Some(balance),
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
        let id = doc! { "from": order.from, "key": key };
        let Some(first) = self.idempotency.find_one(doc! { "_id": id }).session(session).await? else {
            return Ok(None);
        };
        if first.to != order.to || first.amount != order.amount.paise() {
            return Err(BankError::IdempotencyMismatch);
        }
        Ok(Some(match first.transfer {
            Some(entry) => Outcome::Moved { entry, balance: None },
            None => Outcome::Refused,
        }))
    }

    /// Takes the amount from the sender if the balance covers it; returns
    /// the balance after. Read, check, then debit on the same condition: in
    /// a snapshot transaction a concurrent change to this account makes the
    /// debit a write conflict (rerun), so the balance read is the one
    /// debited and needs no further read. (Plain reads and updates:
    /// SecantusDB serves them from the index, but scans the collection for a
    /// findAndModify.)
    async fn debit(&self, session: &mut ClientSession, order: &Order) -> Result<Option<Money>, BankError> {
        let paise = order.amount.paise();
        let sender = self
            .accounts
            .find_one(doc! { "userId": order.from })
            .session(&mut *session)
            .await?
            .ok_or(BankError::Unauthorized)?;
        if sender.balance < paise {
            return Ok(None);
        }
        let debited = self
            .accounts
            .update_one(
                doc! { "userId": order.from, "balance": { "$gte": paise } },
                doc! { "$inc": { "balance": -paise } },
            )
            .session(session)
            .await?;
        Ok((debited.modified_count == 1).then(|| Money::from_paise(sender.balance - paise)))
    }

    /// Gives the amount to the recipient and writes the ledger entry.
    async fn credit_and_record(&self, session: &mut ClientSession, order: &Order) -> Result<ObjectId, BankError> {
        let credited = self
            .accounts
            .update_one(
                doc! { "userId": order.to },
                doc! { "$inc": { "balance": order.amount.paise() } },
            )
            .session(&mut *session)
            .await?;
        if credited.matched_count != 1 {
            // Aborts: the debit is rolled back.
            return Err(BankError::InvalidAccount);
        }
        let entry = TransferDoc {
            id: ObjectId::new(),
            from: order.from,
            to: order.to,
            amount: order.amount.paise(),
            created_at: DateTime::now(),
            idempotency_key: order.key.clone(),
        };
        self.transfers.insert_one(&entry).session(session).await?;
        Ok(entry.id)
    }

    async fn has_account(&self, session: &mut ClientSession, user: ObjectId) -> Result<bool, BankError> {
        let found = self.accounts.find_one(doc! { "userId": user }).session(session).await?;
        Ok(found.is_some())
    }

    /// Stores the outcome under the idempotency key, if there is one. A
    /// concurrent duplicate inserting the same id makes one of the two
    /// conflict and retry; the retry then finds this one.
    async fn remember(&self, session: &mut ClientSession, order: &Order, outcome: &Outcome) -> Result<(), BankError> {
        let Some(key) = &order.key else { return Ok(()) };
        let first = IdempotencyDoc {
            id: IdempotencyId {
                from: order.from,
                key: key.clone(),
            },
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
