//! Everything that runs only on the server. None of it reaches the WASM
//! bundle: the module is compiled only with the `ssr` feature.
//!
//! A request's way: `start` serves `router`, whose layers are in
//! `middleware`; `session` says who is calling; `rest` (the JSON API) and
//! the server functions (`crate::server_fns`) are thin adapters over
//! `bank`, the banking rules, whose one error type is `error`.

pub mod assets;
pub mod audit_command;
pub mod bank;
pub mod config;
pub mod db;
pub mod embedded;
pub mod error;
pub mod expiry;
mod last_seen;
pub mod live;
pub mod middleware;
pub mod passwords;
pub mod qr;
pub mod rest;
pub mod router;
pub mod session;
pub mod session_store;
pub mod start;
pub mod state;
pub mod throttle;
pub mod tokens;
