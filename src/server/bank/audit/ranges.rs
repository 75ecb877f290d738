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
}
