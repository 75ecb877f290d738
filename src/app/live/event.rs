//! A `transfer` event's data, as the server writes it: the history item
//! of `/account/transactions` (rupees as JSON numbers, RFC 3339 times) plus
//! the balance after it. Read into paise and milliseconds here, once.

use super::Arrival;
use crate::model::{parse_utc, Direction, EntryKind, HistoryEntry, UserSummary};
use crate::money::Money;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransferData {
    id: String,
    kind: EntryKind,
    direction: Direction,
    counterparty: Option<UserSummary>,
    amount: f64,
    note: Option<String>,
    created_at: String,
    balance: Option<f64>,
}

/// The entry a `transfer` event carries; none if its data is not one.
pub fn parse(data: &str) -> Option<Arrival> {
    let data: TransferData = serde_json::from_str(data).ok()?;
    let balance = match data.balance {
        Some(rupees) => Some(Money::from_rupees_f64(rupees).ok()?),
        None => None,
    };
    Some(Arrival {
        entry: HistoryEntry {
            id: data.id,
            kind: data.kind,
            direction: data.direction,
            counterparty: data.counterparty,
            note: data.note,
            amount: Money::from_rupees_f64(data.amount).ok()?,
            created_at: parse_utc(&data.created_at)?,
        },
        balance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_server_writes() {
        let data = r#"{"id":"6650a1b2c3d4e5f601234567","kind":"transfer","direction":"received",
            "counterparty":{"_id":"6650a1b2c3d4e5f601234500","firstName":"Asha","lastName":"Rao","hint":"a•••@example.com"},
            "amount":1.5,"note":"tea","createdAt":"2026-11-25T14:05:00.123Z","balance":10001.5}"#;
        let arrival = parse(data).expect("a transfer");
        assert_eq!(arrival.entry.id, "6650a1b2c3d4e5f601234567");
        assert_eq!(arrival.entry.kind, EntryKind::Transfer);
        assert_eq!(arrival.entry.direction, Direction::Received);
        assert_eq!(arrival.entry.amount, Money::from_paise(150));
        assert_eq!(arrival.entry.note.as_deref(), Some("tea"));
        assert_eq!(arrival.entry.created_at, 1_795_615_500_123);
        assert_eq!(arrival.balance, Some(Money::from_paise(1_000_150)));
        let who = arrival.entry.counterparty.expect("a person");
        assert_eq!(
            (who.full_name().as_str(), who.hint.as_str()),
            ("Asha Rao", "a•••@example.com")
        );
    }

    #[test]
    fn money_from_paisa_itself_and_unknown_balances() {
        let data = r#"{"id":"e","kind":"grant","direction":"received","counterparty":null,
            "amount":10000,"note":null,"createdAt":"2026-11-25T14:05:00.000Z","balance":null}"#;
        let arrival = parse(data).expect("a grant");
        assert_eq!(arrival.entry.kind, EntryKind::Grant);
        assert_eq!(arrival.entry.counterparty, None);
        assert_eq!(arrival.entry.amount, Money::from_paise(1_000_000));
        assert_eq!(arrival.balance, None);
    }

    #[test]
    fn refuses_what_it_cannot_read_exactly() {
        let good = r#"{"id":"e","kind":"transfer","direction":"sent","counterparty":null,"amount":1,"note":null,"createdAt":"2026-11-25T14:05:00Z","balance":2}"#;
        assert!(parse(good).is_some());
        for bad in [
            "{}",
            "not json",
            &good.replace("\"amount\":1", "\"amount\":1.005"),
            &good.replace("\"balance\":2", "\"balance\":\"2\""),
            &good.replace("\"sent\"", "\"lent\""),
            &good.replace("14:05:00Z", "14:05:00+05:30"),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
