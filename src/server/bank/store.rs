//! How the bank's data is stored: the document types, the collection names
//! (shared with index creation in `db.rs`), and the conversions from stored
//! documents to what the UI and the API see.

use crate::model::{EntryKind, UserSummary};
use mongodb::bson::{oid::ObjectId, DateTime};
use serde::{Deserialize, Serialize};

pub const USERS: &str = "users";
pub const ACCOUNTS: &str = "accounts";
/// The journal: one immutable entry per movement of money (`journal.rs`).
/// Named for its first kind of entry, and kept so.
pub const JOURNAL: &str = "transfers";
/// The first outcome of each transfer sent with an idempotency key.
pub const IDEMPOTENCY: &str = "idempotencyKeys";
/// How long an idempotency key is remembered (its record is then removed,
/// `expiry.rs`): two entries with one key from one sender closer together
/// than this are a key applied twice (the audit checks it).
pub const KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Which one-time migrations have run (`migrate.rs`).
pub const MIGRATIONS: &str = "migrations";

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

impl UserDoc {
    /// A new user document; the search keys follow from the names.
    pub fn new(username: String, password_hash: String, first_name: String, last_name: String) -> UserDoc {
        UserDoc {
            id: ObjectId::new(),
            name_key: name_key(&first_name, &last_name),
            last_key: last_name.to_lowercase(),
            username,
            password_hash,
            first_name,
            last_name,
            created_at: DateTime::now(),
        }
    }
}

/// What search and the ledger read of a user: the name, and the email only
/// to mask it ([`mask_email`]); never the password hash.
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
    #[serde(default)]
    pub username: String,
}

impl NameDoc {
    /// The projection that reads a [`NameDoc`].
    pub fn projection() -> mongodb::bson::Document {
        mongodb::bson::doc! { "firstName": 1, "lastName": 1, "nameKey": 1, "username": 1 }
    }

    pub fn summary(self) -> UserSummary {
        UserSummary {
            id: self.id.to_hex(),
            hint: mask_email(&self.username),
            first_name: self.first_name,
            last_name: self.last_name,
        }
    }
}

/// What others see of a user's email, to tell two people of the same name
/// apart: the first character of the address, `•••`, and the domain
/// (`asha.rao@example.com` is `a•••@example.com`). Never the whole address,
/// however short; empty for anything that is not one.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        _ => String::new(),
    }
}

/// An account: a user's, or the issuer's (`journal::ISSUER`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccountDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The holder: a user's id, or the issuer's.
    #[serde(rename = "userId")]
    pub user_id: ObjectId,
    /// Paise; always `credits - debits`.
    pub balance: i64,
    /// Paise ever taken from and given to this account (a first-release
    /// account has neither until the migration brings it in).
    #[serde(default)]
    pub debits: i64,
    #[serde(default)]
    pub credits: i64,
    /// How many entries have posted to this account since it began
    /// counting: its entries' order, which is their commit order (each
    /// posting changes this document, so they cannot interleave). Entries
    /// carry it as [`After::seq`].
    #[serde(default)]
    pub postings: i64,
    /// The holder's requests declined or cancelled in the last ten minutes: a
    /// payment's credit reads this document anyway, so a payment under way
    /// when one was closed refuses it here, and a close writes it, so a
    /// payment racing the close conflicts with it (`requests.rs`).
    #[serde(rename = "closedRequests", default, skip_serializing_if = "Vec::is_empty")]
    pub closed_requests: Vec<ClosedRequest>,
}

/// A request closed unpaid, kept on its requester's account for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClosedRequest {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "closedAt")]
    pub closed_at: DateTime,
}

/// One side of an entry as its account stood right after it: the balance
/// and the account's posting count. Live events carry the balance, and
/// replay finds what a client missed by `seq` (entry ids are not in commit
/// order across instances). Absent on the issuer's side and on entries
/// older than the second release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct After {
    pub balance: i64,
    pub seq: i64,
}

/// A journal entry: `amount` from `from` to `to` (holder ids).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EntryDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Absent on the first release's entries, which were all transfers.
    #[serde(default)]
    pub kind: EntryKind,
    pub from: ObjectId,
    pub to: ObjectId,
    /// Paise, positive.
    pub amount: i64,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
    #[serde(rename = "idempotencyKey", skip_serializing_if = "Option::is_none", default)]
    pub idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// The payment request this entry paid (kind `request`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request: Option<ObjectId>,
    #[serde(rename = "fromAfter", skip_serializing_if = "Option::is_none", default)]
    pub from_after: Option<After>,
    #[serde(rename = "toAfter", skip_serializing_if = "Option::is_none", default)]
    pub to_after: Option<After>,
}

impl EntryDoc {
    /// How `holder`'s account stood after this entry, if recorded.
    pub fn after_for(&self, holder: ObjectId) -> Option<After> {
        if self.from == holder {
            self.from_after
        } else if self.to == holder {
            self.to_after
        } else {
            None
        }
    }
}

/// The first outcome of a transfer sent with an idempotency key, so a
/// replay gets the same answer whether it moved money or not.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IdempotencyDoc {
    /// [`idempotency_id`] of `from` and `key`.
    #[serde(rename = "_id")]
    pub id: String,
    pub from: ObjectId,
    pub key: String,
    pub to: ObjectId,
    pub amount: i64,
    /// The ledger entry, when the transfer succeeded; none when it was
    /// refused for insufficient balance.
    pub transfer: Option<ObjectId>,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime,
}

/// The id of the record of `from`'s transfer under `key`: one string, so
/// that finding it is a point read on every database (SecantusDB scans the
/// whole collection to find a document `_id`, as the first releases kept
/// it: 60 ms at 5,000 records, and records are kept a day). Unique because
/// the sender's id is fixed-length hex.
pub fn idempotency_id(from: ObjectId, key: &str) -> String {
    format!("{}/{key}", from.to_hex())
}

/// The search key of a full name: lower-cased "first last".
pub fn name_key(first: &str, last: &str) -> String {
    format!("{} {}", first.to_lowercase(), last.to_lowercase())
}

/// Whether a write failed on a unique index.
pub fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
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

/// Whether every write of an `insert_many` that failed did so for a
/// duplicate key (the rest went in).
pub fn only_duplicate_keys(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        mongodb::error::ErrorKind::InsertMany(m) => {
            m.write_concern_error.is_none()
                && m.write_errors
                    .as_ref()
                    .is_some_and(|w| w.iter().all(|w| w.code == 11000))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked_to_a_first_character_and_the_domain() {
        assert_eq!(mask_email("asha.rao@example.com"), "a•••@example.com");
        assert_eq!(mask_email("a@example.com"), "a•••@example.com");
        assert_eq!(mask_email("été@exemple.fr"), "é•••@exemple.fr");
        for email in ["asha.rao@example.com", "a@example.com", "ab@x.in"] {
            let hint = mask_email(email);
            assert!(!hint.contains(email), "{hint} shows {email}");
            let local = email.split_once('@').unwrap().0;
            assert!(
                local.chars().count() < 2 || !hint.contains(local),
                "{hint} shows {local}"
            );
        }
        for not_an_email in ["", "asha", "@example.com", "asha@"] {
            assert_eq!(mask_email(not_an_email), "");
        }
    }
}
