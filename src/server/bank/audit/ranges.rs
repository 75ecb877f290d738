//! Reading a collection a range of ObjectIds at a time (its index over
//! them), so no read holds the database for long and none needs a limit
//! (SecantusDB reads a whole index range before it applies one).

use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::{ClientSession, Collection};

/// Documents a range aims at.
pub(super) const CHUNK_ENTRIES: usize = 4_000;

/// Ranges of ObjectIds from a first one to the end of the id space, each
/// widened or narrowed to hold about [`CHUNK_ENTRIES`]
/// documents by how many the one before held. Ids as numbers: the top 32
/// of 96 bits are seconds, so the first range, 2^64 wide, is about a
/// second of ids.
pub(super) struct IdRanges {
    from: u128,
    width: u128,
}

impl IdRanges {
    /// Ranges over `field` of `collection` in the snapshot of `session`,
    /// from its smallest ObjectId; none when it holds none.
    pub(super) async fn over(
        collection: &Collection<Document>,
        field: &str,
        session: &mut ClientSession,
    ) -> mongodb::error::Result<Option<IdRanges>> {
        let first = collection
            .find_one(doc! {})
            .sort(doc! { field: 1 })
            .projection(doc! { field: 1 })
            .session(session)
            .await?;
        Ok(first.and_then(|d| d.get_object_id(field).ok()).map(|first| IdRanges {
            from: oid_number(first),
            width: 1 << 64,
        }))
    }

    /// The next range, as a filter on an id field; none past the end.
    pub(super) fn next_range(&mut self) -> Option<Document> {
        if self.from >= 1 << 96 {
            return None;
        }
        let to = self.from.saturating_add(self.width);
        let mut range = doc! { "$gte": oid_from_number(self.from) };
        if to < 1 << 96 {
            range.insert("$lt", oid_from_number(to));
        }
        self.from = to;
        Some(range)
    }

    /// The last range held `seen` documents.
    pub(super) fn saw(&mut self, seen: usize) {
        self.width = match seen {
            0 => self.width.saturating_mul(2),
            n => (self.width * CHUNK_ENTRIES as u128 / n as u128).max(1),
        };
    }
}

/// Ranges of ObjectIds that cover the whole id space, cut at known ids
/// (the account holders, when the journal is read by recipient), so a range
/// never starts in a long empty stretch and ends in a dense one. How many
/// holders a range spans adapts to how many documents the one before held,
/// aiming at [`CHUNK_ENTRIES`]; ids between holders (a recipient without an
/// account) fall in some range too.
pub(super) struct HolderRanges {
    /// The holders, in id order.
    holders: Vec<ObjectId>,
    /// The next range starts at this holder (none yet: from the zero id).
    next: Option<usize>,
    /// Holders the next range spans.
    span: usize,
    done: bool,
}

impl HolderRanges {
    pub(super) fn new(mut holders: Vec<ObjectId>) -> HolderRanges {
        holders.sort_unstable_by_key(|h| oid_number(*h));
        HolderRanges {
            holders,
            next: None,
            span: 1_000,
            done: false,
        }
    }

    /// The next range, as a filter on an id field; none past the end.
    pub(super) fn next_range(&mut self) -> Option<Document> {
        if self.done {
            return None;
        }
        let start = self.next.unwrap_or(0);
        let mut range = match self.next {
            Some(i) => doc! { "$gte": self.holders[i] },
            None => doc! { "$gte": oid_from_number(0) },
        };
        let end = start + self.span;
        if end < self.holders.len() {
            range.insert("$lt", self.holders[end]);
            self.next = Some(end);
        } else {
            self.done = true;
        }
        Some(range)
    }

    /// The last range held `seen` documents.
    pub(super) fn saw(&mut self, seen: usize) {
        self.span = match seen {
            0 => self.span.saturating_mul(2),
            n => (self.span * CHUNK_ENTRIES / n).max(1),
        };
    }
}

/// An ObjectId's 12 bytes as a number, and back.
fn oid_number(id: ObjectId) -> u128 {
    let mut bytes = [0_u8; 16];
    bytes[4..].copy_from_slice(&id.bytes());
    u128::from_be_bytes(bytes)
}

fn oid_from_number(n: u128) -> ObjectId {
    let bytes = n.to_be_bytes();
    let mut id = [0_u8; 12];
    id.copy_from_slice(&bytes[4..]);
    ObjectId::from_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::bank::journal::ISSUER;

    #[test]
    fn ids_round_trip_through_numbers_in_order() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        assert_eq!(oid_from_number(oid_number(a)), a);
        assert!(oid_number(a) < oid_number(b));
        assert_eq!(oid_number(ISSUER), 0);
        assert_eq!(oid_from_number((1 << 96) - 1), ObjectId::from_bytes([0xff; 12]));
    }

    /// Holder ranges cover every id, each holder in exactly one range, and
    /// narrow to one holder where one holder has many documents.
    #[test]
    fn holder_ranges_cover_the_id_space_and_adapt() {
        let holders: Vec<ObjectId> = (0..10_000).map(|_| ObjectId::new()).collect();
        let mut ranges = HolderRanges::new(holders.clone());
        let first = ranges.next_range().unwrap();
        assert_eq!(first.get_object_id("$gte").unwrap(), ISSUER);
        let mut bounds = vec![first.clone()];
        ranges.saw(40_000);
        while let Some(r) = ranges.next_range() {
            bounds.push(r);
            ranges.saw(CHUNK_ENTRIES);
        }
        assert!(!bounds.last().unwrap().contains_key("$lt"));
        for pair in bounds.windows(2) {
            assert_eq!(
                pair[0].get_object_id("$lt").unwrap(),
                pair[1].get_object_id("$gte").unwrap()
            );
        }
        // 40,000 in the first 1,000 holders: the next range spans 100.
        let second = &bounds[1];
        let (lo, hi) = (
            second.get_object_id("$gte").unwrap(),
            second.get_object_id("$lt").unwrap(),
        );
        let inside = holders
            .iter()
            .filter(|h| oid_number(**h) >= oid_number(lo) && oid_number(**h) < oid_number(hi));
        assert_eq!(inside.count(), 100);
    }
}
