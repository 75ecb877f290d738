//! The banking rules: users, accounts, transfers and the ledger. Every
//! adapter (server functions, REST routes) calls this and nothing else
//! touches the collections.

use super::auth::Passwords;
use super::error::BankError;
use crate::model::{Direction, HistoryEntry, HistoryPage, Me, Receipt, UserSummary};
use crate::money::Money;
use mongodb::bson::{doc, oid::ObjectId, DateTime};
use mongodb::options::{Acknowledgment, ReadConcern, TransactionOptions, WriteConcern};
use mongodb::{Client, ClientSession, Collection, Database};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The starting grant of a new account: ₹1.00 to ₹10,000.00.
pub const MIN_GRANT: Money = Money::from_paise(100);
pub const MAX_GRANT: Money = Money::from_paise(1_000_000);
/// Search results per query unless asked for fewer.
pub const SEARCH_LIMIT: usize = 20;
/// History entries per page unless asked for fewer, and the most per page.
pub const HISTORY_LIMIT: usize = 20;
pub const HISTORY_MAX: usize = 100;
/// Longest search text considered: a full name and a space.
const SEARCH_MAX_CHARS: usize = 101;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub username: String,
    #[serde(rename = "passwordHash")]
    pub password_hash: String,
    #[serde(rename = "firstName")]
    pub first_name: String,
    #[serde(rename = "lastName")]
    pub last_name: String,
    /// Lower-cased "first last" and "last": prefix search is an index range
    /// on these (a `$regex` would scan, and would need escaping).
    #[serde(rename = "nameKey")]
    pub name_key: String,
    #[serde(rename = "lastKey")]
    pub last_key: String,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
}

/// What search reads of a user: the name, never the password hash.
#[derive(Debug, Deserialize)]
pub(crate) struct NameDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "firstName")]
    pub first_name: String,
    #[serde(rename = "lastName")]
    pub last_name: String,
    #[serde(rename = "nameKey")]
    pub name_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccountDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "userId")]
    pub user_id: ObjectId,
    /// Paise.
    pub balance: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TransferDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub from: ObjectId,
    pub to: ObjectId,
    /// Paise.
    pub amount: i64,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
    #[serde(rename = "idempotencyKey", skip_serializing_if = "Option::is_none", default)]
    pub idempotency_key: Option<String>,
}

/// The first outcome of a transfer sent with an idempotency key, so a
/// replay gets the same answer whether it moved money or not.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IdempotencyDoc {
    #[serde(rename = "_id")]
    pub id: IdempotencyId,
    pub to: ObjectId,
    pub amount: i64,
    /// The ledger entry, when the transfer succeeded; none when it was
    /// refused for insufficient balance.
    pub transfer: Option<ObjectId>,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdempotencyId {
    pub from: ObjectId,
    pub key: String,
}

/// Counters for tests and the benchmark: how hard transactions had to try.
#[derive(Debug, Default)]
pub struct TxnStats {
    pub commits: AtomicU64,
    pub retries: AtomicU64,
    pub commit_retries: AtomicU64,
}

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
    /// A PHC string from [`Passwords::hash`].
    pub password_hash: String,
    pub balance: Money,
}

/// A profile change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone)]
pub struct Bank {
    client: Client,
    users: Collection<UserDoc>,
    accounts: Collection<AccountDoc>,
    transfers: Collection<TransferDoc>,
    idempotency: Collection<IdempotencyDoc>,
    passwords: Passwords,
    txn_time_limit: Duration,
    stats: Arc<TxnStats>,
    locks: Arc<AccountLocks>,
    outage: Arc<Outage>,
}

/// Remembers that the database was just found unreachable, so transfers
/// queued behind one that found out answer "unavailable" at once instead of
/// each waiting out its own server-selection timeout.
#[derive(Default)]
struct Outage {
    /// When the last "unreachable" was seen.
    seen: std::sync::Mutex<Option<Instant>>,
}

impl Outage {
    /// How long one sighting counts: as long as finding out again would
    /// take a request. After it, the next request tries the database again.
    const HOLD: Duration = super::db::SERVER_SELECTION_TIMEOUT;

    fn record(&self, error: &BankError) {
        if matches!(error, BankError::Db(_)) && error.is_unavailable() {
            *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }

    fn check(&self) -> Result<(), BankError> {
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen {
            Some(at) if at.elapsed() < Self::HOLD => Err(BankError::Busy("the database is unreachable".into())),
            _ => Ok(()),
        }
    }
}

/// In-process locks over accounts, striped: transfers in this process that
/// touch the same account take turns instead of racing into a write
/// conflict, retrying and wasting a database round trip each time. They are
/// an optimisation only: correctness comes from the transaction (other
/// instances still conflict, and are retried).
struct AccountLocks {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl AccountLocks {
    fn new(stripes: usize) -> AccountLocks {
        AccountLocks {
            stripes: (0..stripes).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    fn stripe(&self, id: &ObjectId) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        (h.finish() % self.stripes.len() as u64) as usize
    }

    /// Locks both accounts' stripes, lower stripe first so two transfers in
    /// opposite directions cannot deadlock; gives up at `deadline`.
    async fn lock_pair(
        &self,
        a: &ObjectId,
        b: &ObjectId,
        deadline: Instant,
    ) -> Option<(tokio::sync::MutexGuard<'_, ()>, Option<tokio::sync::MutexGuard<'_, ()>>)> {
        let (i, j) = (self.stripe(a), self.stripe(b));
        let (first, second) = (i.min(j), i.max(j));
        let deadline = tokio::time::Instant::from_std(deadline);
        let g1 = tokio::time::timeout_at(deadline, self.stripes[first].lock())
            .await
            .ok()?;
        let g2 = if second != first {
            Some(
                tokio::time::timeout_at(deadline, self.stripes[second].lock())
                    .await
                    .ok()?,
            )
        } else {
            None
        };
        Some((g1, g2))
    }
}

impl Bank {
    pub fn new(client: Client, db: &Database, passwords: Passwords) -> Bank {
        Bank {
            client,
            users: db.collection("users"),
            accounts: db.collection("accounts"),
            transfers: db.collection("transfers"),
            idempotency: db.collection("idempotencyKeys"),
            passwords,
            txn_time_limit: Duration::from_secs(8),
            stats: Arc::default(),
            locks: Arc::new(AccountLocks::new(1024)),
            outage: Arc::default(),
        }
    }

    /// How long a transaction may keep retrying conflicts before the caller
    /// is told to try again (an HTTP request should not hang for long).
    pub fn with_txn_time_limit(mut self, limit: Duration) -> Bank {
        self.txn_time_limit = limit;
        self
    }

    pub fn stats(&self) -> &TxnStats {
        &self.stats
    }

    // ----- users -------------------------------------------------------

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
        let user = UserDoc {
            id: ObjectId::new(),
            name_key: name_key(&first_name, &last_name),
            last_key: last_name.to_lowercase(),
            username,
            password_hash,
            first_name,
            last_name,
            created_at: DateTime::now(),
        };
        let id = user.id;
        let mut txn = self.transaction().await?;
        loop {
            let session = txn.begin().await?;
            let result = async {
                self.users.insert_one(&user).session(&mut *session).await.map_err(|e| {
                    if is_duplicate_key(&e) {
                        BankError::EmailTaken
                    } else {
                        e.into()
                    }
                })?;
                let account = AccountDoc {
                    id: ObjectId::new(),
                    user_id: id,
                    balance: grant.paise(),
                };
                self.accounts.insert_one(&account).session(&mut *session).await?;
                Ok(())
            }
            .await;
            if let ControlFlow::Break(done) = txn.end(result).await {
                break done?;
            }
        }
        Ok(id)
    }

    /// Adds users in bulk (a migration, or the load generator's seed): their
    /// passwords already hashed and balances already decided. Validated like
    /// sign-up; each batch is one transaction, so a user never exists
    /// without their account. Returns the new ids in input order.
    pub async fn import(&self, batch: &[Import]) -> Result<Vec<ObjectId>, BankError> {
        let mut users = Vec::with_capacity(batch.len());
        let mut accounts = Vec::with_capacity(batch.len());
        for input in batch {
            let first_name = clean_name("firstName", &input.first_name)?;
            let last_name = clean_name("lastName", &input.last_name)?;
            if input.balance.paise() < 0 || input.balance.paise() > crate::money::MAX_PAISE {
                return Err(BankError::invalid("balance", "out of range"));
            }
            let user = UserDoc {
                id: ObjectId::new(),
                name_key: name_key(&first_name, &last_name),
                last_key: last_name.to_lowercase(),
                username: normalize_email(&input.username)?,
                password_hash: input.password_hash.clone(),
                first_name,
                last_name,
                created_at: DateTime::now(),
            };
            accounts.push(AccountDoc {
                id: ObjectId::new(),
                user_id: user.id,
                balance: input.balance.paise(),
            });
            users.push(user);
        }
        let mut txn = self.transaction().await?;
        loop {
            let session = txn.begin().await?;
            let result = async {
                self.users
                    .insert_many(&users)
                    .session(&mut *session)
                    .await
                    .map_err(|e| {
                        if is_duplicate_key(&e) {
                            BankError::EmailTaken
                        } else {
                            e.into()
                        }
                    })?;
                self.accounts.insert_many(&accounts).session(&mut *session).await?;
                Ok(())
            }
            .await;
            if let ControlFlow::Break(done) = txn.end(result).await {
                break done?;
            }
        }
        Ok(users.iter().map(|u| u.id).collect())
    }

    /// The user these credentials belong to. Unknown email and wrong
    /// password are the same error and take the same time.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<ObjectId, BankError> {
        let username = username.trim().to_lowercase();
        if username.is_empty() || password.is_empty() || password.len() > 1024 {
            return Err(BankError::BadCredentials);
        }
        let user = self.users.find_one(doc! { "username": &username }).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        if self.passwords.verify(password.to_owned(), stored).await? {
            user.map(|u| u.id).ok_or(BankError::BadCredentials)
        } else {
            Err(BankError::BadCredentials)
        }
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
            Some(p) => Some(self.passwords.hash(p).await?),
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

    /// Users whose first name, last name or "first last" starts with
    /// `filter` (literal text, any case), the caller excluded, by name.
    pub async fn search(&self, caller: ObjectId, filter: &str, limit: usize) -> Result<Vec<UserSummary>, BankError> {
        let limit = limit.clamp(1, SEARCH_LIMIT);
        let prefix: String = filter
            .trim_start()
            .chars()
            .take(SEARCH_MAX_CHARS)
            .collect::<String>()
            .to_lowercase();
        // One index range per key; "first last" covers a first-name prefix.
        let range = |field: &str| {
            let mut upper = prefix.clone();
            upper.push(char::MAX);
            // The range alone: SecantusDB plans a filter with a second
            // condition (like `_id: {$ne: caller}`) as a collection scan.
            doc! { field: { "$gte": &prefix, "$lt": upper } }
        };
        // One extra, in case the caller is among them.
        let by_name = self.find_users(range("nameKey"), "nameKey", limit + 1);
        let by_last = self.find_users(range("lastKey"), "lastKey", limit + 1);
        let (mut found, by_last) = if prefix.is_empty() {
            (by_name.await?, Vec::new())
        } else {
            let (a, b) = tokio::join!(by_name, by_last);
            (a?, b?)
        };
        for user in by_last {
            if !found.iter().any(|u| u.id == user.id) {
                found.push(user);
            }
        }
        found.retain(|u| u.id != caller);
        found.sort_by(|a, b| a.name_key.cmp(&b.name_key).then(a.id.cmp(&b.id)));
        found.truncate(limit);
        Ok(found
            .into_iter()
            .map(|u| UserSummary {
                id: u.id.to_hex(),
                first_name: u.first_name,
                last_name: u.last_name,
            })
            .collect())
    }

    async fn find_users(
        &self,
        filter: mongodb::bson::Document,
        sort_key: &str,
        limit: usize,
    ) -> Result<Vec<NameDoc>, BankError> {
        use futures::TryStreamExt;
        let cursor = self
            .users
            .clone_with_type::<NameDoc>()
            .find(filter)
            .projection(doc! { "firstName": 1, "lastName": 1, "nameKey": 1 })
            .sort(doc! { sort_key: 1 })
            .limit(limit as i64)
            .await?;
        Ok(cursor.try_collect().await?)
    }

    /// Another user's public view (name only), for the Send Money dialog.
    pub async fn user(&self, id: &str) -> Result<UserSummary, BankError> {
        let id = ObjectId::parse_str(id.trim()).map_err(|_| BankError::InvalidAccount)?;
        let found = self
            .users
            .find_one(doc! { "_id": id })
            .await?
            .ok_or(BankError::InvalidAccount)?;
        Ok(summary(found))
    }

    // ----- accounts ----------------------------------------------------

    pub async fn balance(&self, user: ObjectId) -> Result<Money, BankError> {
        let account = self
            .accounts
            .find_one(doc! { "userId": user })
            .await?
            .ok_or(BankError::Unauthorized)?;
        Ok(Money::from_paise(account.balance))
    }

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
        match amount.paise() {
            p if p < 0 => return Err(crate::money::MoneyError::Negative.into()),
            0 => return Err(crate::money::MoneyError::Zero.into()),
            p if p > crate::money::MAX_PAISE => return Err(crate::money::MoneyError::TooLarge.into()),
            _ => {}
        }
        let key = idempotency_key.map(check_idempotency_key).transpose()?;
        self.outage.check()?;
        let mut txn = self.transaction().await?;
        let _turn = self
            .locks
            .lock_pair(&from, &to, txn.deadline)
            .await
            .ok_or_else(|| BankError::Busy("timed out waiting for the accounts' turn".into()))?;
        // While this waited its turn, the one before may have found the database gone.
        self.outage.check()?;
        let outcome = loop {
            let session = txn.begin().await?;
            let result = async {
                if let Some(key) = &key {
                    let id = doc! { "from": from, "key": key };
                    if let Some(first) = self
                        .idempotency
                        .find_one(doc! { "_id": id })
                        .session(&mut *session)
                        .await?
                    {
                        if first.to != to || first.amount != amount.paise() {
                            return Err(BankError::IdempotencyMismatch);
                        }
                        // A replay: the balance is read afresh below.
                        return Ok(first
                            .transfer
                            .map(|id| (id, None))
                            .ok_or(BankError::InsufficientBalance));
                    }
                }
                // Read, check, then debit on the same condition. In a snapshot
                // transaction a concurrent change to this account makes the
                // debit a write conflict (rerun), so the balance read is the
                // one debited, and the receipt needs no further read.
                // (Plain reads and updates: SecantusDB serves them from the
                // index, but scans the collection for a findAndModify.)
                let sender = self
                    .accounts
                    .find_one(doc! { "userId": from })
                    .session(&mut *session)
                    .await?
                    .ok_or(BankError::Unauthorized)?;
                let debited = sender.balance >= amount.paise()
                    && self
                        .accounts
                        .update_one(
                            doc! { "userId": from, "balance": { "$gte": amount.paise() } },
                            doc! { "$inc": { "balance": -amount.paise() } },
                        )
                        .session(&mut *session)
                        .await?
                        .modified_count
                        == 1;
                let balance_after = debited.then(|| Money::from_paise(sender.balance - amount.paise()));
                let transfer = if debited {
                    let credited = self
                        .accounts
                        .update_one(doc! { "userId": to }, doc! { "$inc": { "balance": amount.paise() } })
                        .session(&mut *session)
                        .await?;
                    if credited.matched_count != 1 {
                        // Aborts: the debit above is rolled back.
                        return Err(BankError::InvalidAccount);
                    }
                    let entry = TransferDoc {
                        id: ObjectId::new(),
                        from,
                        to,
                        amount: amount.paise(),
                        created_at: DateTime::now(),
                        idempotency_key: key.clone(),
                    };
                    self.transfers.insert_one(&entry).session(&mut *session).await?;
                    Some(entry.id)
                } else if self
                    .accounts
                    .find_one(doc! { "userId": to })
                    .session(&mut *session)
                    .await?
                    .is_none()
                {
                    // No recipient: say so (not "insufficient"), and keep no
                    // outcome for the key (nothing was a transfer).
                    return Err(BankError::InvalidAccount);
                } else if key.is_none() {
                    return Err(BankError::InsufficientBalance);
                } else {
                    None
                };
                if let Some(key) = &key {
                    let first = IdempotencyDoc {
                        id: IdempotencyId { from, key: key.clone() },
                        to,
                        amount: amount.paise(),
                        transfer,
                        created_at: DateTime::now(),
                    };
                    // A concurrent duplicate inserting the same id makes one
                    // of the two conflict and retry; the retry finds this.
                    self.idempotency.insert_one(&first).session(&mut *session).await?;
                }
                Ok(transfer
                    .map(|id| (id, balance_after))
                    .ok_or(BankError::InsufficientBalance))
            }
            .await;
            if let ControlFlow::Break(done) = txn.end(result).await {
                break done?;
            }
        };
        let (transfer_id, balance) = outcome?;
        let balance = match balance {
            Some(balance) => balance,
            None => self.balance(from).await?,
        };
        Ok(Receipt {
            transfer_id: transfer_id.to_hex(),
            amount,
            balance,
        })
    }

    /// One ledger entry, if `user` sent or received it.
    pub async fn history_entry(&self, user: ObjectId, id: &str) -> Result<HistoryEntry, BankError> {
        let not_found = || BankError::invalid("transfer", "No such transfer");
        let id = ObjectId::parse_str(id.trim()).map_err(|_| not_found())?;
        let filter = doc! { "_id": id, "$or": [{ "from": user }, { "to": user }] };
        let entry = self.transfers.find_one(filter).await?.ok_or_else(not_found)?;
        let other = if entry.from == user { entry.to } else { entry.from };
        let counterparty = self.users.find_one(doc! { "_id": other }).await?.map(summary);
        Ok(history_entry(user, entry, counterparty))
    }

    /// The user's ledger entries, newest first, `limit` at a time; `before`
    /// is the `next` cursor of the previous page.
    pub async fn history(&self, user: ObjectId, limit: usize, before: Option<&str>) -> Result<HistoryPage, BankError> {
        use futures::TryStreamExt;
        let limit = limit.clamp(1, HISTORY_MAX);
        let before = before
            .filter(|b| !b.is_empty())
            .map(|b| ObjectId::parse_str(b).map_err(|_| BankError::invalid("before", "Invalid page cursor")))
            .transpose()?;
        // Two index ranges ({from, _id} and {to, _id}) merged, rather than an
        // $or the planner may scan for.
        let side = |field: &str| {
            let mut filter = doc! { field: user };
            if let Some(before) = before {
                filter.insert("_id", doc! { "$lt": before });
            }
            filter
        };
        let query = |filter| async {
            let cursor = self
                .transfers
                .find(filter)
                .sort(doc! { "_id": -1 })
                .limit(limit as i64 + 1)
                .await?;
            cursor.try_collect::<Vec<TransferDoc>>().await
        };
        let (sent, received) = tokio::join!(query(side("from")), query(side("to")));
        let mut entries: Vec<TransferDoc> = sent?.into_iter().chain(received?).collect();
        entries.sort_by_key(|t| std::cmp::Reverse(t.id));
        let next = if entries.len() > limit {
            Some(entries[limit - 1].id.to_hex())
        } else {
            None
        };
        entries.truncate(limit);

        let mut others: Vec<ObjectId> = entries
            .iter()
            .map(|t| if t.from == user { t.to } else { t.from })
            .collect();
        others.sort();
        others.dedup();
        let people: Vec<UserDoc> = self
            .users
            .find(doc! { "_id": { "$in": &others } })
            .await?
            .try_collect()
            .await?;
        let entries = entries
            .into_iter()
            .map(|t| {
                let other = if t.from == user { t.to } else { t.from };
                let counterparty = people.iter().find(|p| p.id == other).map(summary_ref);
                history_entry(user, t, counterparty)
            })
            .collect();
        Ok(HistoryPage { entries, next })
    }

    // ----- transactions ------------------------------------------------

    /// A transaction runner for one operation; see [`Txn`].
    async fn transaction(&self) -> Result<Txn<'_>, BankError> {
        let session = self.client.start_session().await.map_err(|e| {
            let e = BankError::from(e);
            self.outage.record(&e);
            e
        })?;
        Ok(Txn {
            session,
            deadline: Instant::now() + self.txn_time_limit,
            attempt: 0,
            stats: &self.stats,
            outage: &self.outage,
        })
    }
}

/// How every bank transaction runs: snapshot reads; majority, journaled
/// writes (a confirmed transfer survives a database crash).
pub fn transaction_options() -> TransactionOptions {
    TransactionOptions::builder()
        .read_concern(ReadConcern::snapshot())
        .write_concern(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .build(),
        )
        .build()
}

/// The retry policy around one transaction, used as
///
/// ```ignore
/// let mut txn = bank.transaction().await?;
/// let value = loop {
///     let session = txn.begin().await?;
///     let result = async { /* reads and writes with .session(&mut *session) */ }.await;
///     if let ControlFlow::Break(done) = txn.end(result).await { break done?; }
/// };
/// ```
///
/// `end` commits an `Ok` and aborts an `Err` (a business outcome or a hard
/// error), then either finishes or, on a TransientTransactionError (a write
/// conflict), backs off with jitter and asks for the whole body to run again,
/// for at most the bank's time limit. A commit whose result is unknown is
/// retried alone. (A loop at the call site rather than a closure: the body's
/// future then stays `Send` for the HTTP server without boxing.)
struct Txn<'a> {
    session: ClientSession,
    deadline: Instant,
    attempt: u32,
    stats: &'a TxnStats,
    outage: &'a Outage,
}

impl Txn<'_> {
    /// Starts the next attempt.
    async fn begin(&mut self) -> Result<&mut ClientSession, BankError> {
        if let Err(e) = self
            .session
            .start_transaction()
            .with_options(transaction_options())
            .await
        {
            let e = BankError::from(e);
            self.outage.record(&e);
            return Err(e);
        }
        Ok(&mut self.session)
    }

    async fn end<T>(&mut self, result: Result<T, BankError>) -> ControlFlow<Result<T, BankError>> {
        let error = match result {
            Ok(value) => match self.commit().await {
                Ok(()) => {
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    return ControlFlow::Break(Ok(value));
                }
                Err(e) => e,
            },
            // The server may already have aborted it; nothing to undo then.
            // An unreachable one would only make the caller wait another
            // server-selection timeout: the server ends it by itself.
            Err(e) if e.is_unavailable() => e,
            Err(e) => {
                let _ = self.session.abort_transaction().await;
                e
            }
        };
        // An unreachable database is labelled transient inside a transaction
        // too, but retrying it only makes the caller wait: answer at once.
        self.outage.record(&error);
        if error.is_unavailable() || !error.is_transient() {
            return ControlFlow::Break(Err(error));
        }
        if Instant::now() >= self.deadline {
            return ControlFlow::Break(Err(BankError::Busy(format!(
                "transaction still conflicting after {} retries: {error}",
                self.attempt
            ))));
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.attempt += 1;
        tokio::time::sleep(backoff(self.attempt)).await;
        ControlFlow::Continue(())
    }

    async fn commit(&mut self) -> Result<(), BankError> {
        loop {
            match self.session.commit_transaction().await {
                Ok(()) => return Ok(()),
                // Retrying the commit against an unreachable database only
                // makes the caller wait; its outcome is unknown either way,
                // and a retry with the same idempotency key settles it.
                Err(e)
                    if e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
                        && Instant::now() < self.deadline
                        && !BankError::from(e.clone()).is_unavailable() =>
                {
                    self.stats.commit_retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Full-jitter exponential backoff: uniform in [0, min(100 ms, 2 ms · 2^n)].
fn backoff(attempt: u32) -> Duration {
    let cap_us = (2_000u64 << attempt.min(6)).min(100_000);
    Duration::from_micros(rand::thread_rng().gen_range(0..=cap_us))
}

fn summary(u: UserDoc) -> UserSummary {
    UserSummary {
        id: u.id.to_hex(),
        first_name: u.first_name,
        last_name: u.last_name,
    }
}

/// A ledger entry as `user` sees it.
fn history_entry(user: ObjectId, t: TransferDoc, counterparty: Option<UserSummary>) -> HistoryEntry {
    let (direction, other) = if t.from == user {
        (Direction::Sent, t.to)
    } else {
        (Direction::Received, t.from)
    };
    HistoryEntry {
        id: t.id.to_hex(),
        direction,
        counterparty: counterparty.unwrap_or_else(|| UserSummary {
            id: other.to_hex(),
            first_name: String::new(),
            last_name: String::new(),
        }),
        amount: Money::from_paise(t.amount),
        created_at: t.created_at.timestamp_millis(),
    }
}

fn summary_ref(u: &UserDoc) -> UserSummary {
    UserSummary {
        id: u.id.to_hex(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
    }
}

fn name_key(first: &str, last: &str) -> String {
    format!("{} {}", first.to_lowercase(), last.to_lowercase())
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|w| w.iter().any(|w| w.code == 11000)),
        _ => false,
    }
}

/// Trimmed, lower-cased, and shaped like an address: one `@`, a dotted
/// domain, no spaces. (Whether it receives mail is not ours to check.)
pub fn normalize_email(raw: &str) -> Result<String, BankError> {
    let email = raw.trim().to_lowercase();
    let bad = || BankError::invalid("username", "Enter a valid email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return Err(bad());
    }
    Ok(email)
}

/// Trimmed, 1 to 50 characters, no control characters.
pub fn clean_name(field: &'static str, raw: &str) -> Result<String, BankError> {
    let name = raw.trim();
    let label = if field == "firstName" {
        "First name"
    } else {
        "Last name"
    };
    if name.is_empty() {
        return Err(BankError::invalid(field, format!("{label} is required")));
    }
    if name.chars().count() > 50 {
        return Err(BankError::invalid(
            field,
            format!("{label} must be at most 50 characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(BankError::invalid(
            field,
            format!("{label} contains invalid characters"),
        ));
    }
    Ok(name.to_owned())
}

/// 8 to 128 characters (NIST 800-63B: length, not composition rules).
pub fn check_password(password: &str) -> Result<(), BankError> {
    match password.chars().count() {
        0..=7 => Err(BankError::invalid("password", "Password must be at least 8 characters")),
        129.. => Err(BankError::invalid(
            "password",
            "Password must be at most 128 characters",
        )),
        _ => Ok(()),
    }
}

fn check_idempotency_key(key: &str) -> Result<String, BankError> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BankError::invalid(
            "idempotencyKey",
            "Idempotency key must be 1 to 128 printable characters",
        ));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Asha.Rao@Example.COM ").unwrap(),
            "asha.rao@example.com"
        );
        for bad in [
            "",
            "asha",
            "asha@",
            "@x.com",
            "asha@localhost",
            "a b@x.com",
            "a@b@c.com",
            "a@x..com",
            "a@-x.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("firstName", "  Asha ").unwrap(), "Asha");
        assert!(clean_name("firstName", "   ").is_err());
        assert!(clean_name("lastName", &"x".repeat(51)).is_err());
        assert_eq!(clean_name("lastName", &"é".repeat(50)).unwrap().chars().count(), 50);
        assert!(clean_name("lastName", "a\u{0}b").is_err());
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"p".repeat(128)).is_ok());
        assert!(check_password(&"p".repeat(129)).is_err());
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..50 {
            assert!(backoff(attempt) <= Duration::from_millis(100));
        }
    }
}
