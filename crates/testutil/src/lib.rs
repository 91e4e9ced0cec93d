//! Test support shared by every patchlens crate: finding the read-only `shared/` assets.
//!
//! Assets live outside the repository (research data, large weights). Tests find them through the
//! `PATCHLENS_SHARED` environment variable, defaulting to `../shared` next to the repository root.
//! Outside CI a missing asset *skips* the test with a printed reason; under `CI=true` it *fails*.

use std::path::{Path, PathBuf};

/// The repository root (the workspace directory holding the top-level `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // crates/testutil -> repo root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root exists")
}

/// The shared asset directory: `$PATCHLENS_SHARED`, else `<repo>/../shared`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("PATCHLENS_SHARED") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        }
        _ => repo_root().join("../shared"),
    }
}

/// True when running under CI (`CI=true` or `CI=1`) and missing assets must fail.
///
/// A CI without access to the research data (e.g. a hosted GitHub runner) sets
/// `PATCHLENS_SHARED_OPTIONAL=1` to keep the skip-with-reason behaviour.
pub fn in_ci() -> bool {
    let ci = matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE")
    );
    let optional = matches!(
        std::env::var("PATCHLENS_SHARED_OPTIONAL").as_deref(),
        Ok("1") | Ok("true")
    );
    ci && !optional
}

/// Resolve `rel` inside the shared directory.
///
/// Returns `Some(path)` if it exists. If it is missing: under CI this panics (the test fails);
/// otherwise it prints `SKIP <test>: <path> missing (...)` and returns `None` so the test can return early.
///
/// ```ignore
/// let Some(w) = patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors") else { return };
/// ```
pub fn shared_asset(rel: &str) -> Option<PathBuf> {
    let p = shared_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    let msg = format!(
        "shared asset {} is missing (set PATCHLENS_SHARED to the folder holding weights/, reference/, data/)",
        p.display()
    );
    if in_ci() {
        panic!("{msg}; under CI=true a missing asset is a failure");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// Like [`shared_asset`] for an optional external tool/python asset that only a fixture script makes:
/// the path is inside the repository (`fixtures/...`). Missing committed fixtures are always a failure.
pub fn fixture(rel: &str) -> PathBuf {
    let p = repo_root().join("fixtures").join(rel);
    assert!(
        p.exists(),
        "committed fixture {} is missing; regenerate it with the script in fixtures/ (see fixtures/README.md)",
        p.display()
    );
    p
}
