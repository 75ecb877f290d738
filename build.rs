//! The release server embeds the site (`src/server/assets.rs`) from
//! `target/site-embedded`, which `scripts/build-release` updates only where
//! a file's content changed: rebuild it then, and only then. Debug builds
//! read the site from disk, so they do not watch it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let server = std::env::var_os("CARGO_FEATURE_SSR").is_some();
    if server && std::env::var("PROFILE").as_deref() == Ok("release") {
        let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site-embedded");
        // A path that does not exist would make cargo rerun this every time.
        let _ = std::fs::create_dir_all(&site);
        println!("cargo:rerun-if-changed={}", site.display());
    }
}
