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

mod ask;
mod close;
mod list;
mod pay;
mod views;

use mongodb::bson::{doc, oid::ObjectId, DateTime};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const REQUESTS: &str = "requests";
/// Who refuses requests from whom (`_id: {blocker, blocked}`).
pub const BLOCKS: &str = "requestBlocks";
/// How long a request can be paid.
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Pending requests one user may have asked for at once.
pub use crate::limits::MAX_PENDING;
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
