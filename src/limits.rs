//! How much people may type, and how much money may move: the limits the
//! forms announce (`maxlength`) and the server enforces, defined once so
//! the two cannot drift apart. Shared by the UI and the server (no `ssr`).

/// A first or last name, in characters after NFC normalisation.
pub const NAME_CHARS: usize = 50;

/// An email address, in bytes (RFC 5321's limit on a path).
pub const EMAIL_BYTES: usize = 254;

/// A new password, in characters (NIST 800-63B: length, not composition
/// rules).
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A password typed to sign in or to confirm a change, in bytes: longer
/// than any password we accept, short enough that hashing it is cheap.
pub const SIGN_IN_PASSWORD_BYTES: usize = 1024;

/// A note on a payment or a request, in characters.
pub const NOTE_CHARS: usize = 140;

/// The longest search text considered: a full name and a space.
pub const SEARCH_MAX_CHARS: usize = 2 * NAME_CHARS + 1;

/// How many of a user's own requests may wait to be paid at once.
pub const MAX_PENDING: u64 = 20;

/// The largest amount, in paise: what the parser accepts, what one payment
/// may move (the least is one paisa) and what an account may hold.
/// ₹1,00,00,00,000.00 (one hundred crore): far above any wallet balance,
/// far below where i64 or f64 lose precision.
pub const MAX_PAISE: i64 = 1_000_000_000 * 100;
