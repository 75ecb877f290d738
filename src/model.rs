//! What the service layer hands to the UI and the JSON API: plain data,
//! shared by the server and the WASM build.

use crate::money::Money;
use serde::{Deserialize, Serialize};

/// Another user as search results and the ledger show them: never their
/// email or balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "firstName")]
    pub first_name: String,
    #[serde(rename = "lastName")]
    pub last_name: String,
}

impl UserSummary {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// The letter shown in the avatar circle.
    pub fn initial(&self) -> String {
        initial(&self.first_name)
    }
}

pub fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

/// The signed-in user's own view of themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub balance: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

/// One ledger entry from the point of view of one of its two users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: String,
    pub direction: Direction,
    pub counterparty: UserSummary,
    pub amount: Money,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at: i64,
}

/// A page of history, newest first; `next` is the cursor for the older page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    pub next: Option<String>,
}

/// The result of a transfer that moved money (or of its replay).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub transfer_id: String,
    pub amount: Money,
    /// The sender's balance after this transfer.
    pub balance: Money,
}
