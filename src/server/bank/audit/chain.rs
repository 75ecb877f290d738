//! The balances entries record, checked without putting them in order.
//!
//! An entry records, for each account, its place `s` in the account's order
//! and the balance `b` right after it; it changed the balance by `d`. The
//! records are right when each follows from the one before: the balance
//! after place `s − 1` was `b − d`, for every place but the first, and the
//! balance after the last place `N` is the account's balance. Put as sets:
//! the claims {(s, b)} for s in 1..=N equal the implied {(s − 1, b − d)} for
//! s in 2..=N plus (N, balance). The audit reads the journal in no
//! particular order and keeps no entries, so it compares the two sets by a
//! sum of hashes (wrapping), eight bytes per account.

use super::{int, Tally};
use mongodb::bson::Document;
use std::hash::{DefaultHasher, Hash, Hasher};

impl Tally {
    /// Adds an entry's record for this account (`d`: what the entry did to
    /// its balance); an entry without one (older than the records) is not
    /// part of the chain.
    pub(super) fn link(&mut self, after: Option<&Document>, d: i64) {
        let Some(after) = after else { return };
        let (s, b) = (int(after.get("seq")), int(after.get("balance")));
        self.placed += 1;
        self.chain = self.chain.wrapping_add(point(s, b));
        if s > 1 {
            self.chain = self.chain.wrapping_sub(point(s - 1, b - d));
        }
    }
}

/// Whether the records of an account with `postings` places and `balance`
/// form one chain ending at its balance.
pub(super) fn closes(chain: u64, postings: i64, balance: i64) -> bool {
    if postings == 0 {
        return chain == 0;
    }
    chain == point(postings, balance)
}

/// A (place, balance) pair as a number to sum.
fn point(s: i64, b: i64) -> u64 {
    let mut h = DefaultHasher::new();
    (s, b).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn tally(records: &[(i64, i64, i64)]) -> Tally {
        let mut t = Tally::default();
        for &(s, b, d) in records {
            t.link(Some(&doc! { "seq": s, "balance": b }), d);
        }
        t
    }

    #[test]
    fn a_chain_closes_in_any_order_and_only_when_right() {
        // Grant 500, received 100, sent 50: balances 500, 600, 550.
        let records = [(1, 500, 500), (2, 600, 100), (3, 550, -50)];
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let t = tally(&order.map(|i| records[i]));
            assert!(closes(t.chain, 3, 550));
            assert_eq!(t.placed, 3);
        }
        let t = tally(&records);
        assert!(!closes(t.chain, 3, 551), "the balance is not the last record's");
        // A middle record one paisa off breaks two links.
        let t = tally(&[(1, 500, 500), (2, 601, 100), (3, 550, -50)]);
        assert!(!closes(t.chain, 3, 550));
        // A record missing, or one place twice.
        assert!(!closes(tally(&[(1, 500, 500), (3, 550, -50)]).chain, 3, 550));
        assert!(!closes(
            tally(&[(1, 500, 500), (2, 600, 100), (2, 600, 100)]).chain,
            3,
            600
        ));
        // A first-release account: its chain starts at its first record.
        assert!(closes(tally(&[(1, 900, -100), (2, 950, 50)]).chain, 2, 950));
        assert!(closes(0, 0, 1234));
    }
}
