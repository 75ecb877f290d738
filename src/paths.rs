//! The pages' paths, shared by the app's routes and the server's page guard
//! (which must know which pages are private before anything renders).

pub const HOME: &str = "/";
pub const SIGN_IN: &str = "/signin";
pub const SIGN_UP: &str = "/signup";
pub const DASHBOARD: &str = "/dashboard";
pub const TRANSACTIONS: &str = "/transactions";
pub const PROFILE: &str = "/profile";

/// A pay link: `/pay/<userId>?amount=&note=` opens the Send Money dialog
/// for that user, prefilled.
pub const PAY: &str = "/pay/";

/// Pages only a signed-in user may see (and every pay link).
pub const PRIVATE: [&str; 3] = [DASHBOARD, TRANSACTIONS, PROFILE];

/// Pages only a signed-out visitor needs.
pub const SIGNED_OUT: [&str; 2] = [SIGN_IN, SIGN_UP];

/// Whether `path` is a page only a signed-in user may see.
pub fn is_private(path: &str) -> bool {
    PRIVATE.contains(&path)
        || path
            .strip_prefix(PAY)
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Where to go after signing in, from a `next` parameter: a private page
/// of this site (with its query), written in printable ASCII as a URL is
/// (it goes into a `Location` header), never another site; else the
/// dashboard.
pub fn after_sign_in(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if next.chars().all(|c| c.is_ascii_graphic() && c != '\\')
                && is_private(next.split('?').next().unwrap_or_default()) =>
        {
            next
        }
        _ => DASHBOARD,
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A dashboard address. The dashboard keeps all its state in its query,
/// so that every step works as a plain link or form post before the WASM
/// loads: each field is one query key, absent when `None` (an empty value
/// reads as absent too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DashboardUrl {
    /// The Send Money dialog, for this user id.
    pub send: Option<String>,
    /// Its success view: the journal entry just sent.
    pub sent: Option<String>,
    /// The Request Money dialog, asking this user id.
    pub request: Option<String>,
    /// Its success view: the request just made.
    pub asked: Option<String>,
    /// The confirm step before paying this request id.
    pub pay: Option<String>,
    /// A pay link's amount and note, to prefill Send Money with.
    pub amount: Option<String>,
    pub note: Option<String>,
    /// The search box's text.
    pub filter: Option<String>,
}

impl DashboardUrl {
    /// The Send Money dialog for `user`.
    pub fn send(user: impl Into<String>) -> DashboardUrl {
        DashboardUrl {
            send: Some(user.into()),
            ..DashboardUrl::default()
        }
    }

    /// The Request Money dialog for `user`.
    pub fn request(user: impl Into<String>) -> DashboardUrl {
        DashboardUrl {
            request: Some(user.into()),
            ..DashboardUrl::default()
        }
    }

    /// The confirm step of paying request `id`.
    pub fn pay(id: impl Into<String>) -> DashboardUrl {
        DashboardUrl {
            pay: Some(id.into()),
            ..DashboardUrl::default()
        }
    }

    /// The same, with the search box holding `filter` (none when empty).
    pub fn with_filter(self, filter: &str) -> DashboardUrl {
        DashboardUrl {
            filter: Some(filter.to_owned()).filter(|f| !f.is_empty()),
            ..self
        }
    }

    /// The dashboard a query names: `lookup` gives a key's (decoded) value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> DashboardUrl {
        let get = |key: &str| lookup(key).filter(|v| !v.is_empty());
        DashboardUrl {
            send: get("send"),
            sent: get("sent"),
            request: get("request"),
            asked: get("asked"),
            pay: get("pay"),
            amount: get("amount"),
            note: get("note"),
            filter: get("filter"),
        }
    }

    /// The dashboard a query string names (with or without its `?`): the
    /// last value of each key (as the router reads it), percent-decoded;
    /// unknown keys are ignored.
    pub fn parse_query(query: &str) -> DashboardUrl {
        let pairs: Vec<(String, String)> = query
            .trim_start_matches('?')
            .split('&')
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((query_unescape(key), query_unescape(value))).filter(|(k, _)| !k.is_empty())
            })
            .collect();
        DashboardUrl::from_lookup(|key| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    fn pairs(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("send", &self.send),
            ("sent", &self.sent),
            ("request", &self.request),
            ("asked", &self.asked),
            ("pay", &self.pay),
            ("amount", &self.amount),
            ("note", &self.note),
            ("filter", &self.filter),
        ]
    }
}

impl std::fmt::Display for DashboardUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(DASHBOARD)?;
        let given = self
            .pairs()
            .into_iter()
            .filter_map(|(key, value)| Some((key, value.as_deref().filter(|v| !v.is_empty())?)));
        for (i, (key, value)) in given.enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{key}={}", query_escape(value))?;
        }
        Ok(())
    }
}

/// Decodes a query key or value: `+` is a space (as forms send it), `%XX`
/// a byte; bytes that are not UTF-8 become U+FFFD, a stray `%` stays.
pub fn query_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_returns_only_to_a_page_of_this_site() {
        assert_eq!(
            after_sign_in(Some("/pay/65f1a0ffee0123456789abcd?amount=5")),
            "/pay/65f1a0ffee0123456789abcd?amount=5"
        );
        assert_eq!(after_sign_in(Some("/transactions")), "/transactions");
        for elsewhere in [
            "//evil.example/pay/x",
            "https://evil.example",
            "/signin",
            "/pay/",
            "/pay/a/b",
            "/\\evil",
            "javascript:alert(1)",
        ] {
            assert_eq!(after_sign_in(Some(elsewhere)), DASHBOARD, "{elsewhere}");
        }
        assert_eq!(after_sign_in(None), DASHBOARD);
    }

    #[test]
    fn dashboard_urls_round_trip_through_their_query() {
        let tricky = "Tea & cake #2 = 50% off+more, चाय ☕";
        let urls = [
            DashboardUrl::default(),
            DashboardUrl::send("65f1a0ffee0123456789abcd"),
            DashboardUrl {
                sent: Some("65f1a0ffee0123456789abce".into()),
                amount: Some("3.25".into()),
                note: Some(tricky.into()),
                ..DashboardUrl::send("65f1a0ffee0123456789abcd")
            },
            DashboardUrl {
                asked: Some("x y".into()),
                ..DashboardUrl::request("a&b")
            },
            DashboardUrl::pay("p#1").with_filter(tricky),
        ];
        for url in urls {
            let text = url.to_string();
            let query = text.strip_prefix(DASHBOARD).unwrap();
            assert!(!query.contains([' ', '#', '+']) && query.is_ascii(), "{text}");
            assert_eq!(
                query.matches('&').count() + 1,
                query.matches('=').count().max(1),
                "{text}"
            );
            assert_eq!(DashboardUrl::parse_query(query), url, "{text}");
        }
    }

    #[test]
    fn dashboard_urls_keep_the_order_links_have_always_had() {
        let link = DashboardUrl {
            amount: Some("3.25".into()),
            note: Some("Tea".into()),
            ..DashboardUrl::send("u1")
        };
        assert_eq!(link.to_string(), "/dashboard?send=u1&amount=3.25&note=Tea");
        let asked = DashboardUrl {
            asked: Some("r1".into()),
            ..DashboardUrl::request("u1")
        };
        assert_eq!(asked.to_string(), "/dashboard?request=u1&asked=r1");
        assert_eq!(
            DashboardUrl::send("u1").with_filter("ra vi").to_string(),
            "/dashboard?send=u1&filter=ra%20vi"
        );
        assert_eq!(DashboardUrl::default().with_filter("").to_string(), "/dashboard");
    }

    #[test]
    fn a_query_as_browsers_send_it_parses() {
        // A GET form writes spaces as `+`; empty values and unknown keys are
        // nothing; the last of a repeated key counts; bad escapes stay.
        let url = DashboardUrl::parse_query("?filter=asha+rao&send=&q=x&pay=1&pay=2&note=100%&amount=%E2%82%B9%zz");
        assert_eq!(url.filter.as_deref(), Some("asha rao"));
        assert_eq!(url.send, None);
        assert_eq!(url.pay.as_deref(), Some("2"));
        assert_eq!(url.note.as_deref(), Some("100%"));
        assert_eq!(url.amount.as_deref(), Some("₹%zz"));
        assert_eq!(query_unescape("%FF%41"), "\u{FFFD}A");
    }
}
