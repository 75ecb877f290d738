//! Everything that runs only on the server. None of it reaches the WASM
//! bundle: the module is compiled only with the `ssr` feature.
//!
//! A request's way: `start` serves `http::router`, whose layers are in
//! `http::middleware`; `auth::extract` says who is calling; `http::rest`
//! (the JSON API) and the server functions (`crate::server_fns`) are thin
//! adapters over `bank`, the banking rules, whose one error type is
//! `bank::error`. `changes` is the instance's one change stream, which the
//! read models in memory (sessions, the directory, asks) and `live` follow.

pub mod audit_command;
pub mod auth;
pub mod bank;
pub mod changes;
pub mod config;
pub mod db;
pub mod embedded;
pub mod expiry;
pub mod http;
pub mod live;
pub mod qr;
pub mod start;
pub mod state;
