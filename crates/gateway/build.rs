//! Embeds the built dashboard and shop page (`dashboard/dist`) in the
//! binary, so a copied or `cargo install`ed engine serves them from
//! anywhere. Without a build (no Node on this machine) the binary still
//! builds, serves a page saying how to get them, and this says so.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dashboard = manifest.join("../../dashboard");
    let dist = dashboard.join("dist");
    println!("cargo:rerun-if-changed=build.rs");
    let mut found = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        files(&dist, &mut found);
    } else {
        // Rebuilt once `npm run build` creates dist/ (the folder changes).
        println!("cargo:rerun-if-changed={}", dashboard.display());
        println!(
            "cargo:warning=dashboard/dist is not built: this binary embeds no dashboard or shop page \
             (npm --prefix dashboard ci && npm --prefix dashboard run build, then build again; \
             or serve a built copy with FLASHSALE_DASHBOARD_DIR)"
        );
    }
    found.sort();
    let mut code = String::from(
        "/// The built pages, by path under `dashboard/dist`.\npub static PAGES: &[Page] = &[\n",
    );
    for path in &found {
        let bytes = fs::read(path).expect("a file of dashboard/dist is readable");
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        let relative = path.strip_prefix(&dist).expect("found under dist");
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let absolute = fs::canonicalize(path).expect("a file of dashboard/dist has a path");
        code.push_str(&format!(
            "    Page {{ path: {name:?}, mime: {:?}, etag: \"\\\"{:016x}\\\"\", body: include_bytes!({:?}) }},\n",
            mime(path),
            hasher.finish(),
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("pages.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
