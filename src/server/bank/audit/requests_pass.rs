//! Paid requests against the journal: an entry that pays a request (its
//! `request` field) must name a request asking for exactly that payment,
//! that request must not also be declined or cancelled, and no other entry
//! may pay it. Checked a chunk of the journal at a time (one read of the
//! chunk's requests); the audit remembers each paid request's entry (24
//! bytes each) to find a second.

use super::{int, Audit, Violation};
use crate::server::bank::error::BankError;
use crate::server::bank::requests::REQUESTS;
use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::{ClientSession, Database};
use std::collections::HashMap;

/// An entry that pays a request, as the journal recorded it.
pub(super) struct Paying {
    pub entry: ObjectId,
    pub request: ObjectId,
    pub from: Option<ObjectId>,
    pub to: Option<ObjectId>,
    pub amount: i64,
}

impl Paying {
    /// The entry's part in paying a request, if it pays one.
    pub(super) fn of(entry: &Document) -> Option<Paying> {
        Some(Paying {
            entry: entry.get_object_id("_id").ok()?,
            request: entry.get_object_id("request").ok()?,
            from: entry.get_object_id("from").ok(),
            to: entry.get_object_id("to").ok(),
            amount: int(entry.get("amount")),
        })
    }
}

impl Audit {
    /// Checks `paying` (entries of one chunk) against their requests.
    pub(super) async fn requests_paid(
        &mut self,
        db: &Database,
        session: &mut ClientSession,
        paying: &[Paying],
    ) -> Result<(), BankError> {
        if paying.is_empty() {
            return Ok(());
        }
        let ids: Vec<ObjectId> = paying.iter().map(|p| p.request).collect();
        let requests: HashMap<ObjectId, Document> = db
            .collection::<Document>(REQUESTS)
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! { "from": 1, "to": 1, "amount": 1, "status": 1 })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect::<Vec<Document>>()
            .await?
            .into_iter()
            .filter_map(|r| Some((r.get_object_id("_id").ok()?, r)))
            .collect();
        for paid in paying {
            self.paid_once(paid);
            let found = requests.get(&paid.request);
            let asked = found.map(|r| {
                (
                    r.get_object_id("from").ok(),
                    r.get_object_id("to").ok(),
                    int(r.get("amount")),
                )
            });
            if asked != Some((paid.from, paid.to, paid.amount)) {
                let expected = format!(
                    "request {} from the entry's sender, to its recipient, of {} paise",
                    paid.request.to_hex(),
                    paid.amount
                );
                let recorded = match asked {
                    None => format!("entry {}: no such request", paid.entry.to_hex()),
                    Some((from, to, amount)) => format!(
                        "entry {}: request from {}, to {}, of {amount} paise",
                        paid.entry.to_hex(),
                        from.map(|f| f.to_hex()).unwrap_or_default(),
                        to.map(|t| t.to_hex()).unwrap_or_default(),
                    ),
                };
                self.flag(
                    paid,
                    "an entry paying a request must match what was asked",
                    expected,
                    recorded,
                );
            }
            let status = found.and_then(|r| r.get_str("status").ok()).unwrap_or("pending");
            if status != "pending" && status != "paid" {
                let expected = format!(
                    "request {} paid by entry {}",
                    paid.request.to_hex(),
                    paid.entry.to_hex()
                );
                self.flag(
                    paid,
                    "a request paid must not also be declined or cancelled",
                    expected,
                    format!("status {status}"),
                );
            }
        }
        Ok(())
    }

    /// At most one entry a request, whatever the journal's indexes say.
    fn paid_once(&mut self, paid: &Paying) {
        if let Some(first) = self.paid.insert(paid.request, paid.entry) {
            self.flag(
                paid,
                "a request must be paid by one entry at most",
                format!(
                    "request {} paid by entry {} only",
                    paid.request.to_hex(),
                    first.to_hex()
                ),
                format!("also entry {}", paid.entry.to_hex()),
            );
        }
    }

    fn flag(&mut self, paid: &Paying, check: &'static str, expected: String, found: String) {
        self.violations.push(Violation {
            check,
            account: None,
            user: paid.from.map(|f| f.to_hex()),
            expected,
            found,
        });
    }
}
