//! Who is calling, and whether they may: the extractors that read a
//! session from a request (`extract`), signing in (`sign_in`), the sessions
//! themselves (`sessions`), the signed tokens that name them (`tokens`),
//! the sign-in and sign-up throttle (`throttle`) and a client's network
//! (`network`). Passwords are hashed and checked by the bank, which keeps
//! them.

pub mod extract;
pub mod network;
pub mod sessions;
pub mod sign_in;
pub mod throttle;
pub mod tokens;

use crate::server::bank::Bank;
use sessions::SessionStore;
use throttle::Throttle;
use tokens::Tokens;

/// What the extractors and sign-in read of the app's state (`AppState`
/// implements it; auth sits below the state).
pub trait AuthContext: Send + Sync {
    fn tokens(&self) -> &Tokens;
    fn sessions(&self) -> &SessionStore;
    fn throttle(&self) -> &Throttle;
    fn bank(&self) -> &Bank;
    fn cookie_secure(&self) -> bool;
    /// Whether the address our own proxy appended to `X-Forwarded-For` is
    /// the client's.
    fn trust_forwarded_for(&self) -> bool;
}
