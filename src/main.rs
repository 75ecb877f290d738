//! The server's start; everything it calls lives in the library.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    paisa::server::start::run().await
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser build has no binary: it is the `hydrate()` library entry.
}
