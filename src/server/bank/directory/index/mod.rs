//! The directory's data: every user's names in a compact record, and three
//! orders over them (by id, by full name, by last name), so a prefix search
//! is two binary searches and at most one scan of the last-name range. The
//! same keys and order as the database's search (`store::name_key`, byte
//! order, then id), so both answer exactly alike.

use crate::model::UserSummary;
use crate::server::bank::store::name_key;
use mongodb::bson::oid::ObjectId;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// One user, in one allocation: `text` is the full-name key, then the
/// first and last names as written, then the first character of their
/// email (for the hint); `domain` is their email's domain, interned.
struct Person {
    id: ObjectId,
    text: Box<str>,
    key_len: u16,
    last_key_len: u16,
    first_len: u16,
    last_len: u16,
    domain: u32,
}

/// An email without a domain: no hint.
const NO_DOMAIN: u32 = u32::MAX;

impl Person {
    fn key(&self) -> &str {
        &self.text[..self.key_len as usize]
    }

    /// The last-name key: the end of the full-name key.
    fn last_key(&self) -> &str {
        &self.text[self.key_len as usize - self.last_key_len as usize..self.key_len as usize]
    }

    fn names(&self) -> (&str, &str, &str) {
        let first_end = self.key_len as usize + self.first_len as usize;
        let last_end = first_end + self.last_len as usize;
        (
            &self.text[self.key_len as usize..first_end],
            &self.text[first_end..last_end],
            &self.text[last_end..],
        )
    }

    /// Its place in search order: by full-name key, then id.
    fn order(&self) -> (&str, ObjectId) {
        (self.key(), self.id)
    }

    /// Its place in the last-name order: by last-name key, then as above,
    /// so each last name's people are in search order.
    fn last_order(&self) -> (&str, &str, ObjectId) {
        (self.last_key(), self.key(), self.id)
    }
}

/// A user as the directory learns of them (from the database or a change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: ObjectId,
    pub first_name: String,
    pub last_name: String,
    /// Their email: only its first character and domain are kept.
    pub username: String,
}

#[derive(Default)]
pub struct Index {
    people: Vec<Person>,
    /// Indexes into `people`: by id; by (full-name key, id); by (last-name
    /// key, full-name key, id).
    by_id: Vec<u32>,
    by_name: Vec<u32>,
    by_last: Vec<u32>,
    domains: Vec<Box<str>>,
    domain_ids: HashMap<Box<str>, u32>,
}

/// A name too long for the compact record (never one Paisa accepts, which
/// is at most 50 characters): the directory cannot hold it.
#[derive(Debug)]
pub struct TooLong;

impl Index {
    /// An index of `entries` (later duplicates of an id win), sorted once.
    #[cfg(test)]
    fn build(entries: impl IntoIterator<Item = Entry>) -> Result<Index, TooLong> {
        let mut index = Index::default();
        for entry in entries {
            index.push(&entry)?;
        }
        index.seal();
        Ok(index)
    }

    /// Adds a user to an index being built (no order kept until `seal`):
    /// read straight from a cursor, with nothing else held meanwhile.
    pub fn push(&mut self, entry: &Entry) -> Result<(), TooLong> {
        let person = self.person(entry)?;
        self.people.push(person);
        Ok(())
    }

    /// Sorts what was pushed into the three orders; of two records of one
    /// id, the later pushed is kept (the other is left unreachable).
    pub fn seal(&mut self) {
        let people = &self.people;
        let mut by_id: Vec<u32> = (0..people.len() as u32).collect();
        // Stable: equal ids stay in push order, so the last of each run wins.
        by_id.sort_by_key(|&i| people[i as usize].id);
        by_id.reverse();
        by_id.dedup_by_key(|&mut i| people[i as usize].id);
        by_id.reverse();
        let mut by_name = by_id.clone();
        by_name.sort_unstable_by(|&a, &b| people[a as usize].order().cmp(&people[b as usize].order()));
        let mut by_last = by_id.clone();
        by_last.sort_unstable_by(|&a, &b| people[a as usize].last_order().cmp(&people[b as usize].last_order()));
        (self.by_id, self.by_name, self.by_last) = (by_id, by_name, by_last);
    }

    /// Users held (once sealed).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Adds a user, or changes their names; `only_new` leaves one already
    /// known as it is (a local sign-up must not undo a rename the change
    /// stream already brought).
    pub fn upsert(&mut self, entry: &Entry, only_new: bool) -> Result<(), TooLong> {
        let person = self.person(entry)?;
        match self.slot(entry.id) {
            Some(_) if only_new => {}
            Some(slot) => {
                if self.people[slot as usize].text == person.text && self.people[slot as usize].domain == person.domain
                {
                    return Ok(());
                }
                self.unlink(slot);
                self.people[slot as usize] = person;
                self.link(slot);
            }
            None => {
                let slot = self.people.len() as u32;
                let at = self.by_id.partition_point(|&i| self.people[i as usize].id < entry.id);
                self.people.push(person);
                self.by_id.insert(at, slot);
                self.link(slot);
            }
        }
        Ok(())
    }

    /// A known user as search shows them.
    pub fn summary_of(&self, id: ObjectId) -> Option<UserSummary> {
        let slot = self.slot(id)?;
        Some(self.summary(&self.people[slot as usize]))
    }

    /// The first `limit` users by full name (then id) whose full name or
    /// last name starts with `prefix` (already lower-cased), `caller` left
    /// out: what `Bank::search` answers.
    pub fn search(&self, prefix: &str, limit: usize, caller: ObjectId) -> Vec<UserSummary> {
        let people = &self.people;
        let wanted = |p: &&Person| p.id != caller;
        // Full-name prefixes (first names too): a contiguous run in order.
        let start = self.by_name.partition_point(|&i| people[i as usize].key() < prefix);
        let mut found: Vec<&Person> = self.by_name[start..]
            .iter()
            .map(|&i| &people[i as usize])
            .take_while(|p| p.key().starts_with(prefix))
            .filter(wanted)
            .take(limit)
            .collect();
        if !prefix.is_empty() {
            // Last-name prefixes: a run in last-name order, in which each
            // last name's people are in search order. Of each last name,
            // people are taken while they could be among the first `limit`
            // (a bounded max-heap); the rest of that name is skipped at once.
            let mut best: BinaryHeap<ByOrder> = BinaryHeap::with_capacity(limit + 1);
            let mut at = self
                .by_last
                .partition_point(|&i| people[i as usize].last_key() < prefix);
            while let Some(p) = self.by_last.get(at).map(|&i| &people[i as usize]) {
                if !p.last_key().starts_with(prefix) {
                    break;
                }
                if p.id == caller {
                    at += 1;
                } else if best.len() < limit {
                    best.push(ByOrder(p));
                    at += 1;
                } else if best.peek().is_some_and(|worst| p.order() < worst.0.order()) {
                    best.pop();
                    best.push(ByOrder(p));
                    at += 1;
                } else {
                    at = self.end_of_last_name(at);
                }
            }
            found.extend(best.into_iter().map(|b| b.0));
            found.sort_unstable_by(|a, b| a.order().cmp(&b.order()));
            found.dedup_by_key(|p| p.id);
            found.truncate(limit);
        }
        found.into_iter().map(|p| self.summary(p)).collect()
    }

    fn summary(&self, person: &Person) -> UserSummary {
        let (first, last, initial) = person.names();
        UserSummary {
            id: person.id.to_hex(),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            hint: match self.domains.get(person.domain as usize) {
                Some(domain) => format!("{initial}•••@{domain}"),
                None => String::new(),
            },
        }
    }

    fn slot(&self, id: ObjectId) -> Option<u32> {
        let at = self.by_id.partition_point(|&i| self.people[i as usize].id < id);
        self.by_id
            .get(at)
            .copied()
            .filter(|&i| self.people[i as usize].id == id)
    }

    /// Puts `slot` in its places in the name orders.
    fn link(&mut self, slot: u32) {
        let (by_name, by_last) = self.places(slot);
        self.by_name.insert(by_name, slot);
        self.by_last.insert(by_last, slot);
    }

    /// Takes `slot` out of the name orders (before its names change).
    fn unlink(&mut self, slot: u32) {
        let (by_name, by_last) = self.places(slot);
        self.by_name.remove(by_name);
        self.by_last.remove(by_last);
    }

    /// Where `slot` is, or goes, in the two name orders (each total).
    fn places(&self, slot: u32) -> (usize, usize) {
        let people = &self.people;
        let person = &people[slot as usize];
        (
            self.by_name
                .partition_point(|&i| people[i as usize].order() < person.order()),
            self.by_last
                .partition_point(|&i| people[i as usize].last_order() < person.last_order()),
        )
    }

    /// The position after the run of people with the last name of the one
    /// at `at`: galloping, so a short run costs a comparison or two and a
    /// long one its logarithm.
    fn end_of_last_name(&self, at: usize) -> usize {
        let name = self.people[self.by_last[at] as usize].last_key();
        let same = |pos: usize| {
            self.by_last
                .get(pos)
                .is_some_and(|&i| self.people[i as usize].last_key() == name)
        };
        let (mut low, mut step) = (at, 1);
        while same(low + step) {
            low += step;
            step *= 2;
        }
        // `low` has the name; `low + step` does not (or is past the end).
        let high = (low + step).min(self.by_last.len());
        low + 1 + self.by_last[low + 1..high].partition_point(|&i| self.people[i as usize].last_key() == name)
    }

    /// The compact record of `entry`.
    fn person(&mut self, entry: &Entry) -> Result<Person, TooLong> {
        let key = name_key(&entry.first_name, &entry.last_name);
        let last_key_len = entry.last_name.to_lowercase().len();
        let (initial, domain) = match crate::server::bank::store::mask_email(&entry.username).is_empty() {
            true => ("", NO_DOMAIN),
            false => {
                let (local, domain) = entry.username.split_once('@').expect("a masked email has an @");
                let initial = &local[..local.chars().next().map_or(0, char::len_utf8)];
                (initial, self.domain(domain))
            }
        };
        let short = |n: usize| u16::try_from(n).map_err(|_| TooLong);
        Ok(Person {
            id: entry.id,
            key_len: short(key.len())?,
            last_key_len: short(last_key_len)?,
            first_len: short(entry.first_name.len())?,
            last_len: short(entry.last_name.len())?,
            text: [key.as_str(), &entry.first_name, &entry.last_name, initial]
                .concat()
                .into_boxed_str(),
            domain,
        })
    }

    fn domain(&mut self, domain: &str) -> u32 {
        if let Some(&id) = self.domain_ids.get(domain) {
            return id;
        }
        let id = self.domains.len() as u32;
        self.domains.push(domain.into());
        self.domain_ids.insert(domain.into(), id);
        id
    }
}

/// A person ordered for the heap of best last-name matches.
struct ByOrder<'a>(&'a Person);

impl PartialEq for ByOrder<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.order() == other.0.order()
    }
}
impl Eq for ByOrder<'_> {}
impl PartialOrd for ByOrder<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByOrder<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.order().cmp(&other.0.order())
    }
}

#[cfg(test)]
mod tests;
