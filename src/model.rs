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
    /// Tells apart people of the same name: their email masked
    /// (`a•••@example.com`), never the email itself. Empty when unknown.
    #[serde(default)]
    pub hint: String,
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

/// What moved money.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// From one user to another.
    #[default]
    Transfer,
    /// The welcome balance a new account starts with.
    Grant,
    /// A balance brought in from before the journal existed.
    Opening,
    /// A paid payment request.
    Request,
}

/// One journal entry from the point of view of one of its two holders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: String,
    pub kind: EntryKind,
    pub direction: Direction,
    /// The other user; none for money from (or back to) the bank itself.
    pub counterparty: Option<UserSummary>,
    pub note: Option<String>,
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
    /// The sender's balance after this transfer.
    pub balance: Money,
}

/// A payment request's state. Expired is a pending request past its
/// expiry: a state, never a deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Paid,
    Declined,
    Cancelled,
    Expired,
}

impl RequestStatus {
    /// The state named `text` (`"pending"`, …), as the API writes it.
    pub fn parse(text: &str) -> Option<RequestStatus> {
        [
            RequestStatus::Pending,
            RequestStatus::Paid,
            RequestStatus::Declined,
            RequestStatus::Cancelled,
            RequestStatus::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Paid => "paid",
            RequestStatus::Declined => "declined",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Expired => "expired",
        }
    }
}

/// A payment request: `from` is asked to pay `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub id: String,
    pub from: UserSummary,
    pub to: UserSummary,
    pub amount: Money,
    pub note: Option<String>,
    pub status: RequestStatus,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at: i64,
    pub expires_at: i64,
}

/// The dashboard's pending requests: those asking the user to pay, and
/// those the user asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestBoard {
    pub incoming: Vec<PaymentRequest>,
    pub outgoing: Vec<PaymentRequest>,
}

/// The Receive card: the user's pay link and its QR code (SVG markup the
/// server made from the link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receive {
    pub link: String,
    pub qr_svg: String,
}

/// What the Send Money dialog needs: who, and the idempotency key for this
/// opening of the dialog. Loaded as one resource: rendered by the server,
/// both reach the browser with the page, so the server-rendered form and
/// the hydrated one agree on the key; opened in the browser, both are made
/// there (the person from the row that opened it, the key at random).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDialog {
    pub recipient: UserSummary,
    pub key: String,
}

/// Send Money's answer: all its success view shows, without another
/// read. The journal entry, the amount it moved (as the server read what
/// was typed) and the sender's balance right after it; the recipient is
/// the dialog's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    pub entry: String,
    pub amount: Money,
    pub balance: Money,
}

/// One of the signed-in user's sessions, as the profile page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInDevice {
    pub id: String,
    /// "Firefox on Linux", from the user agent.
    pub description: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    /// The session this page was loaded in.
    pub current: bool,
}

/// "Chrome on Android": the browser and the system a user agent names, as
/// far as a person needs to recognise their own device.
pub fn describe_user_agent(user_agent: &str) -> String {
    let has = |needle: &str| user_agent.contains(needle);
    let browser = if has("Edg/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("Firefox/") {
        "Firefox"
    } else if has("Chrome/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else if has("curl/") {
        "curl"
    } else {
        "Unknown browser"
    };
    let system = if has("Android") {
        "Android"
    } else if has("iPhone") || has("iPad") {
        "iOS"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") {
        "Linux"
    } else {
        return browser.to_owned();
    };
    format!("{browser} on {system}")
}

/// `2026-11-25 14:05 UTC`: the same text on the server and in the browser
/// (no local time zone, so hydration cannot disagree).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Milliseconds since the Unix epoch from an RFC 3339 time in UTC as the
/// API writes them (`2026-11-25T14:05:00.123Z`; fractions of any length,
/// `Z` or `+00:00`). None for anything else, offsets other than UTC
/// included: the API never sends them.
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = text.split_once('T')?;
    let number = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let mut date = date.split('-');
    let (year, month, day) = (
        number(date.next()?, 4)?,
        number(date.next()?, 2)?,
        number(date.next()?, 2)?,
    );
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut time = time.split(':');
    let (hour, minute, second) = (
        number(time.next()?, 2)?,
        number(time.next()?, 2)?,
        number(time.next()?, 2)?,
    );
    if date.next().is_some() || time.next().is_some() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |ms, b| ms * 10 + i64::from(b - b'0'));
    // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm,
    // the inverse of `format_utc`'s).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_795_615_500_000), "2026-11-25 14:05 UTC");
    }

    #[test]
    fn parses_the_apis_utc_times() {
        assert_eq!(parse_utc("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_utc("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(parse_utc("2026-11-25T14:05:00.123Z"), Some(1_795_615_500_123));
        assert_eq!(parse_utc("2026-11-25T14:05:00.5+00:00"), Some(1_795_615_500_500));
        assert_eq!(parse_utc("1969-12-31T23:59:59.999Z"), Some(-1));
        for bad in [
            "",
            "2026-11-25",
            "2026-11-25T14:05:00",
            "2026-11-25T14:05:00+05:30",
            "2026-13-01T00:00:00Z",
            "2026-1-01T00:00:00Z",
            "2026-11-25T14:05:00.x1Z",
            "2026-11-25T14:05Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad:?}");
        }
        // The same instant `format_utc` shows, for any day of four centuries.
        for day in (-146_097..146_097).step_by(7) {
            let ms = day * 86_400_000 + 45_296_789;
            let text = format_utc(ms);
            let (date, hm) = text.trim_end_matches(" UTC").split_once(' ').unwrap();
            assert_eq!(
                parse_utc(&format!("{date}T{hm}:00Z")),
                Some(ms - ms.rem_euclid(60_000)),
                "{text}"
            );
        }
    }

    #[test]
    fn user_agents_are_told_by_browser_and_system() {
        let chrome_linux =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
        assert_eq!(describe_user_agent(chrome_linux), "Chrome on Linux");
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_user_agent(safari_iphone), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0";
        assert_eq!(describe_user_agent(edge), "Edge on Windows");
        assert_eq!(describe_user_agent("curl/8.5.0"), "curl");
        assert_eq!(describe_user_agent(""), "Unknown browser");
    }

    #[test]
    fn initials_are_upper_case() {
        assert_eq!(initial("asha"), "A");
        assert_eq!(initial(""), "");
    }
}
