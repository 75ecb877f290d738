//! Who is calling, and whether they may: the extractor that reads a
//! session from a request (`extract`), the sessions themselves
//! (`sessions`), the signed tokens that name them (`tokens`), password
//! hashing (`passwords`) and the sign-in and sign-up throttle (`throttle`).

pub mod extract;
pub mod passwords;
pub mod sessions;
pub mod throttle;
pub mod tokens;
