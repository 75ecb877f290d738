//! Server functions: the UI's calls into the service layer. Each is a thin
//! adapter: read the session, call `Bank`, map the error once (`AppError`,
//! in `ssr.rs`). Forms post to them directly, so they also work before the
//! WASM loads.

mod money;
mod people;
mod requests;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use money::*;
pub use people::*;
pub use requests::*;
