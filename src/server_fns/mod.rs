//! Server functions: the UI's calls into the service layer. Each is a thin
//! adapter: read the session (`context`), call `Bank`, map the error once
//! (`errors`). Forms post to them directly, so they also work before the
//! WASM loads.

mod account;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod errors;
mod payment_requests;
mod people;
mod receive;
mod transfers;

pub use account::*;
pub use payment_requests::*;
pub use people::*;
pub use receive::*;
pub use transfers::*;
