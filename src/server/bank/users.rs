//! Users and their accounts: sign-up (the user, their account and its
//! starting grant from the issuer, in one transaction), bulk import,
//! sign-in, the profile.

use super::directory::Entry;
use super::journal::ISSUER;
use super::store::{is_duplicate_key, name_key, AccountDoc, After, EntryDoc, NameDoc, UserDoc};
use super::validate::{check_password, clean_name, normalize_email};
use super::{Bank, MAX_GRANT, MIN_GRANT};
use crate::limits::{EMAIL_BYTES, SIGN_IN_PASSWORD_BYTES};
use crate::model::{EntryKind, Me, UserSummary};
use crate::money::{Money, MAX_PAISE};
use crate::server::bank::error::BankError;
use futures::FutureExt;
use mongodb::bson::{doc, oid::ObjectId, Document};
use rand::Rng;

/// Input for sign-up, as typed by the user.
#[derive(Clone, Debug, Default)]
pub struct SignUp {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
}

/// A user for [`Bank::import`].
#[derive(Clone, Debug)]
pub struct Import {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    /// A PHC string from [`crate::server::bank::passwords::Passwords::hash`].
    pub password_hash: String,
    pub balance: Money,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
    /// Required to change the password: proof it is the owner.
    pub current_password: Option<String>,
}

impl ProfileUpdate {
    /// Whether applying this would check the current password (and hash a
    /// new one): what a password-change limit counts.
    pub fn checks_password(&self) -> bool {
        self.password.as_deref().is_some_and(|p| check_password(p).is_ok())
            && self.current_password.as_deref().is_some_and(|c| !c.is_empty())
    }
}

impl Bank {
    /// Creates the user and their account, with a random starting balance,
    /// in one transaction. Returns the new user's id.
    pub async fn sign_up(&self, input: SignUp) -> Result<ObjectId, BankError> {
        let username = normalize_email(&input.username)?;
        let first_name = clean_name("firstName", &input.first_name)?;
        let last_name = clean_name("lastName", &input.last_name)?;
        check_password(&input.password)?;
        // Hash before the transaction: it is slow and must not hold one open.
        let password_hash = self.passwords.hash(input.password).await?;
        let grant = Money::from_paise(rand::thread_rng().gen_range(MIN_GRANT.paise()..=MAX_GRANT.paise()));
        let user = UserDoc::new(username, password_hash, first_name, last_name);
        let id = user.id;
        self.create(vec![user], vec![AccountDoc::opened_with(id, grant)])
            .await?;
        Ok(id)
    }

    /// Adds users in bulk (a migration, or a seed for the benchmark and the
    /// tests): their passwords already hashed and balances already decided.
    /// Validated like sign-up; each batch is one transaction, so a user
    /// never exists without their account. Returns the new ids in input
    /// order.
    pub async fn import(&self, batch: &[Import]) -> Result<Vec<ObjectId>, BankError> {
        let mut users = Vec::with_capacity(batch.len());
        let mut accounts = Vec::with_capacity(batch.len());
        for input in batch {
            if !(0..=MAX_PAISE).contains(&input.balance.paise()) {
                return Err(BankError::invalid("balance", "out of range"));
            }
            let user = UserDoc::new(
                normalize_email(&input.username)?,
                input.password_hash.clone(),
                clean_name("firstName", &input.first_name)?,
                clean_name("lastName", &input.last_name)?,
            );
            accounts.push(AccountDoc::opened_with(user.id, input.balance));
            users.push(user);
        }
        let ids = users.iter().map(|u| u.id).collect();
        self.create(users, accounts).await?;
        Ok(ids)
    }

    /// Inserts users and their accounts, each balance a grant from the
    /// issuer with its journal entry, in one transaction.
    async fn create(&self, users: Vec<UserDoc>, accounts: Vec<AccountDoc>) -> Result<(), BankError> {
        let grants: Vec<EntryDoc> = accounts
            .iter()
            .filter(|a| a.balance > 0)
            .map(|a| {
                let mut grant = EntryDoc::new(EntryKind::Grant, ISSUER, a.user_id, Money::from_paise(a.balance));
                grant.to_after = Some(After {
                    balance: a.balance,
                    seq: a.postings,
                });
                grant
            })
            .collect();
        let total = Money::from_paise(accounts.iter().map(|a| a.balance).sum());
        let names: Vec<Entry> = users
            .iter()
            .map(|u| Entry {
                id: u.id,
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                username: u.username.clone(),
            })
            .collect();
        // Every grant debits the issuer: sign-ups in this process take turns
        // on it rather than conflict.
        let deadline = self.deadline();
        let _turn = self.locks.lock_pair(&ISSUER, &ISSUER, deadline).await?;
        let new = (self, users, accounts, grants, total);
        self.in_transaction(deadline, new, |session, (bank, users, accounts, grants, total)| {
            async move {
                bank.users
                    .insert_many(&*users)
                    .session(&mut *session)
                    .await
                    .map_err(|e| {
                        if is_duplicate_key(&e) {
                            BankError::EmailTaken
                        } else {
                            e.into()
                        }
                    })?;
                bank.accounts.insert_many(&*accounts).session(&mut *session).await?;
                bank.post_issuer(session, *total, Money::ZERO).await?;
                bank.record(session, grants).await?;
                Ok(())
            }
            .boxed()
        })
        .await?;
        // Searchable here at once; elsewhere when the change stream tells.
        self.directory.add_new(names);
        Ok(())
    }

    /// The user these credentials belong to. Unknown email and wrong
    /// password are the same error and take the same time.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<ObjectId, BankError> {
        Ok(self.verify_credentials(username, password).await?.user)
    }

    /// [`Bank::sign_in`], with what was verified: a session opened from it
    /// must check it is still the password ([`Bank::still_verified`]).
    pub async fn verify_credentials(&self, username: &str, password: &str) -> Result<Verified, BankError> {
        let username = username.trim().to_lowercase();
        if username.is_empty()
            || username.len() > EMAIL_BYTES
            || password.is_empty()
            || password.len() > SIGN_IN_PASSWORD_BYTES
        {
            return Err(BankError::BadCredentials);
        }
        let user = self.users.find_one(doc! { "username": &username }).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        if self.passwords.verify(password.to_owned(), stored).await? {
            user.map(|u| Verified {
                user: u.id,
                hash: u.password_hash,
            })
            .ok_or(BankError::BadCredentials)
        } else {
            Err(BankError::BadCredentials)
        }
    }

    /// Whether the password `verified` checked is still the user's: read
    /// after the session it opened was stored, so a password change either
    /// ends that session (it came first) or is seen here.
    pub async fn still_verified(&self, verified: &Verified) -> Result<bool, BankError> {
        let now = self
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": verified.user })
            .projection(doc! { "passwordHash": 1 })
            .await?;
        Ok(now.is_some_and(|u| u.get_str("passwordHash") == Ok(verified.hash.as_str())))
    }

    /// The signed-in user's profile and balance.
    pub async fn me(&self, user: ObjectId) -> Result<Me, BankError> {
        let (found, balance) = tokio::join!(self.users.find_one(doc! { "_id": user }), self.balance(user));
        let found = found?.ok_or(BankError::Unauthorized)?;
        Ok(Me {
            id: found.id.to_hex(),
            username: found.username,
            first_name: found.first_name,
            last_name: found.last_name,
            balance: balance?,
        })
    }

    pub async fn balance(&self, user: ObjectId) -> Result<Money, BankError> {
        let account = self
            .accounts
            .find_one(doc! { "userId": user })
            .await?
            .ok_or(BankError::Unauthorized)?;
        Ok(Money::from_paise(account.balance))
    }

    /// Another user's public view (name only), for the Send Money dialog.
    pub async fn user(&self, id: &str) -> Result<UserSummary, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::InvalidAccount)?;
        let found = self
            .users
            .clone_with_type::<NameDoc>()
            .find_one(doc! { "_id": id })
            .projection(NameDoc::projection())
            .await?
            .ok_or(BankError::InvalidAccount)?;
        Ok(found.summary())
    }

    /// Changes any of first name, last name and password; nothing else about
    /// a user can be changed.
    pub async fn update_profile(&self, user: ObjectId, update: ProfileUpdate) -> Result<(), BankError> {
        let first = update
            .first_name
            .as_deref()
            .map(|n| clean_name("firstName", n))
            .transpose()?;
        let last = update
            .last_name
            .as_deref()
            .map(|n| clean_name("lastName", n))
            .transpose()?;
        if let Some(p) = &update.password {
            check_password(p)?;
        }
        if first.is_none() && last.is_none() && update.password.is_none() {
            return Err(BankError::invalid("profile", "Nothing to update"));
        }
        let hash = match update.password {
            Some(p) => {
                self.check_current_password(user, update.current_password).await?;
                Some(self.passwords.hash(p).await?)
            }
            None => None,
        };
        // The search key depends on both names: update only if the names are
        // still those we read, so two concurrent edits cannot leave it stale.
        loop {
            let current = self
                .users
                .find_one(doc! { "_id": user })
                .await?
                .ok_or(BankError::Unauthorized)?;
            let first = first.clone().unwrap_or_else(|| current.first_name.clone());
            let last = last.clone().unwrap_or_else(|| current.last_name.clone());
            let mut set = doc! {
                "firstName": &first,
                "lastName": &last,
                "nameKey": name_key(&first, &last),
                "lastKey": last.to_lowercase(),
            };
            if let Some(hash) = &hash {
                set.insert("passwordHash", hash);
            }
            let filter = doc! { "_id": user, "firstName": &current.first_name, "lastName": &current.last_name };
            if self.users.update_one(filter, doc! { "$set": set }).await?.matched_count == 1 {
                return Ok(());
            }
        }
    }

    /// A password changes only for whoever knows the current one (a stolen
    /// session alone cannot lock the owner out).
    async fn check_current_password(&self, user: ObjectId, current: Option<String>) -> Result<(), BankError> {
        let wrong = || BankError::invalid("currentPassword", "Current password is incorrect");
        let current = current
            .filter(|p| !p.is_empty() && p.len() <= SIGN_IN_PASSWORD_BYTES)
            .ok_or_else(wrong)?;
        let stored = self
            .users
            .find_one(doc! { "_id": user })
            .await?
            .ok_or(BankError::Unauthorized)?
            .password_hash;
        if self.passwords.verify(current, Some(stored)).await? {
            Ok(())
        } else {
            Err(wrong())
        }
    }
}

/// A password checked against a user's: who, and the hash it matched.
#[derive(Debug)]
pub struct Verified {
    pub user: ObjectId,
    hash: String,
}
