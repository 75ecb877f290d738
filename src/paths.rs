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
/// of this site (with its query), never another site; else the dashboard.
pub fn after_sign_in(next: Option<&str>) -> &str {
    match next {
        Some(next) if !next.contains(['\\', '\r', '\n']) && is_private(next.split('?').next().unwrap_or_default()) => {
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
}
