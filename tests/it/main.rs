//! The integration tests, one binary: the banking core (`bank`), the JSON
//! API (`api`) and the pages and forms (`app`) over a real database, the
//! layers in front of the handlers (`layers`), names that cannot pass for
//! another's (`names`), and property tests of what untrusted input becomes
//! (`props`). The harness and the helpers they share are in `tests/common`.

#![cfg(feature = "ssr")]

#[path = "../common/mod.rs"]
mod common;

mod api;
mod app;
mod bank;
mod changes;
mod expiry;
mod journal;
mod layers;
mod live;
mod names;
mod props;
mod requests;
mod search;
mod sessions;
