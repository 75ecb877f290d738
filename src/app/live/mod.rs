//! Live updates: the signed-in user's new journal entries as they happen,
//! from the server's event stream (`/api/v1/events`). A page makes a
//! [`Live`], starts it once it shows the user's data, and reads it through
//! signals. Only the browser connects (`stream`): the server-rendered page,
//! and the page without JavaScript, are what they were.

#[cfg(any(feature = "hydrate", test))]
mod event;
#[cfg(feature = "hydrate")]
mod stream;
#[cfg(feature = "hydrate")]
mod wait;

use crate::model::{Direction, HistoryEntry};
use crate::money::Money;
use leptos::prelude::*;

/// A new journal entry of the user's, as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub entry: HistoryEntry,
    /// The user's balance right after it; none on entries from before
    /// balances were recorded with them.
    pub balance: Option<Money>,
}

impl Arrival {
    /// What the page says about it: "₹1.50 received from Asha Rao", and
    /// the note if there is one ("… Asha Rao: “Dinner”").
    pub fn notice(&self) -> String {
        let entry = &self.entry;
        // Money from (or back to) Paisa itself has no person on the other side.
        let who = entry
            .counterparty
            .as_ref()
            .map_or_else(|| "Paisa".to_owned(), |who| who.full_name());
        let what = match entry.direction {
            Direction::Received => format!("{} received from {who}", entry.amount),
            Direction::Sent => format!("{} sent to {who}", entry.amount),
        };
        match &entry.note {
            Some(note) => format!("{what}: “{note}”"),
            None => what,
        }
    }
}

/// One page's live stream. Cheap to copy; it ends with the page that made it.
#[derive(Clone, Copy)]
pub struct Live {
    /// Oldest first; a bounded number (`stream::KEEP`).
    arrivals: RwSignal<Vec<Arrival>>,
    /// Changes whenever what the page loaded may have missed entries.
    stale: RwSignal<u32>,
    open: RwSignal<bool>,
    /// Changes whenever one of the user's payment requests was made or changed.
    requests: RwSignal<u32>,
    /// The page's owner, until the stream is started under it.
    owner: StoredValue<Option<Owner>>,
}

impl Live {
    /// A stream for the current page, not yet connected. Made in the page's
    /// own component, so the stream lasts as long as the page, however
    /// often the page's data is loaded again.
    pub fn new() -> Live {
        Live {
            arrivals: RwSignal::new(Vec::new()),
            stale: RwSignal::new(0),
            open: RwSignal::new(false),
            requests: RwSignal::new(0),
            owner: StoredValue::new(Owner::current()),
        }
    }

    /// Connects (in the browser; once: later calls do nothing). `after` is
    /// the newest entry the page shows, if it knows it: the stream starts
    /// right after it, so nothing committed in between is lost. Without
    /// it the stream starts from now, and the page is told it is stale once
    /// the stream is open.
    pub fn start(self, after: Option<String>) {
        let Some(owner) = self.owner.try_update_value(Option::take).flatten() else {
            return;
        };
        #[cfg(feature = "hydrate")]
        owner.with(|| stream::spawn(self, after));
        #[cfg(not(feature = "hydrate"))]
        let _ = (owner, after);
    }

    /// The entries that arrived, oldest first (tracked).
    pub fn arrivals(self) -> Vec<Arrival> {
        self.arrivals.get()
    }

    /// The newest entry that arrived (tracked).
    pub fn latest(self) -> Option<Arrival> {
        self.arrivals.with(|all| all.last().cloned())
    }

    /// A count that changes whenever the page should read its data afresh
    /// (tracked): entries were missed that the stream cannot send.
    pub fn stale(self) -> u32 {
        self.stale.get()
    }

    /// A count that changes whenever a payment request of the user's was
    /// made, paid, declined or cancelled (tracked).
    pub fn requests_changed(self) -> u32 {
        self.requests.get()
    }

    /// Whether the stream is open now (tracked); end-to-end tests wait for it.
    pub fn is_open(self) -> bool {
        self.open.get()
    }
}

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntryKind, UserSummary};

    fn arrival(direction: Direction, counterparty: Option<UserSummary>) -> Arrival {
        Arrival {
            entry: HistoryEntry {
                id: "e1".to_owned(),
                kind: EntryKind::Transfer,
                direction,
                counterparty,
                note: None,
                amount: Money::from_paise(12_345_678),
                created_at: 0,
            },
            balance: None,
        }
    }

    #[test]
    fn notices_name_the_amount_and_the_other_person() {
        let asha = UserSummary {
            id: "u1".to_owned(),
            first_name: "Asha".to_owned(),
            last_name: "Rao".to_owned(),
            hint: String::new(),
        };
        assert_eq!(
            arrival(Direction::Received, Some(asha.clone())).notice(),
            "₹1,23,456.78 received from Asha Rao"
        );
        assert_eq!(
            arrival(Direction::Sent, Some(asha)).notice(),
            "₹1,23,456.78 sent to Asha Rao"
        );
        assert_eq!(
            arrival(Direction::Received, None).notice(),
            "₹1,23,456.78 received from Paisa"
        );
        let mut with_note = arrival(Direction::Received, None);
        with_note.entry.note = Some("Dinner".to_owned());
        assert_eq!(with_note.notice(), "₹1,23,456.78 received from Paisa: “Dinner”");
    }
}
