//! The release server embeds the site (`src/server/assets.rs`): rebuild it
//! when cargo-leptos has written a new one. Debug builds read the site from
//! disk, so they do not watch it (and are not rebuilt by every site build).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let server = std::env::var_os("CARGO_FEATURE_SSR").is_some();
    if server && std::env::var("PROFILE").as_deref() == Ok("release") {
        let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site");
        // A path that does not exist would make cargo rerun this every time.
        let _ = std::fs::create_dir_all(&site);
        println!("cargo:rerun-if-changed={}", site.display());
    }
}
