//! The pages' paths, shared by the app's routes and the server's page guard
//! (which must know which pages are private before anything renders).

pub const HOME: &str = "/";
pub const SIGN_IN: &str = "/signin";
pub const SIGN_UP: &str = "/signup";
pub const DASHBOARD: &str = "/dashboard";
pub const TRANSACTIONS: &str = "/transactions";
pub const PROFILE: &str = "/profile";

/// Pages only a signed-in user may see.
pub const PRIVATE: [&str; 3] = [DASHBOARD, TRANSACTIONS, PROFILE];
/// Pages only a signed-out visitor needs.
pub const SIGNED_OUT: [&str; 2] = [SIGN_IN, SIGN_UP];
