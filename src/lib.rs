//! Paisa: a wallet where people sign up, find each other by name and send
//! money. One crate: the Leptos UI (server-rendered, hydrated to WASM), the
//! server functions, and (with `ssr`) the server, the service layer and the
//! JSON API.

pub mod app;
pub mod error;
pub mod limits;
pub mod model;
pub mod money;
pub mod paths;
#[cfg(feature = "ssr")]
pub mod server;
pub mod server_fns;

/// The WASM entry point: attaches the UI to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
