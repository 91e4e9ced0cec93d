//! Test support shared by every patchlens crate: finding the read-only `shared/` assets, and checking
//! that an error's `source()` chain prints each cause once ([`assert_each_cause_once`]).
//!
//! Assets live outside the repository (research data, large weights). Tests find them through the
//! `PATCHLENS_SHARED` environment variable, defaulting to `../shared` next to the repository root.
//! Outside CI a missing asset *skips* the test with a printed reason; under `CI=true` it *fails*.

use std::error::Error;
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

/// A compute device a test needs (e.g. the Vulkan adapter of the `wgpu` tests), opened by `open`. Returns
/// `Some` when it opens; otherwise, like a missing [`shared_asset`], a failure under CI and elsewhere a
/// printed `SKIP: ...` and `None`.
pub fn required_device<T, E: std::fmt::Display>(
    what: &str,
    open: impl FnOnce() -> Result<T, E>,
) -> Option<T> {
    match open() {
        Ok(d) => Some(d),
        Err(e) => {
            let msg = format!("{what} cannot be opened: {e}");
            if in_ci() {
                panic!("{msg}; under CI=true a missing device is a failure");
            }
            eprintln!("SKIP: {msg}");
            None
        }
    }
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

/// The `Display` text of `err` and of every error below it in its `source()` chain, outermost first.
pub fn error_chain(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        out.push(e.to_string());
        cur = e.source();
    }
    out
}

/// Where a chain prints a cause twice: the first link whose own message already contains the message of
/// the link below it (the error both embeds its source in its text and returns it from `source()`), or
/// an empty message. `None` for a clean chain.
pub fn repeated_cause(err: &(dyn Error + 'static)) -> Option<String> {
    let chain = error_chain(err);
    if let Some(i) = chain.iter().position(|m| m.trim().is_empty()) {
        return Some(format!("link {i} of {chain:?} has an empty message"));
    }
    chain.windows(2).enumerate().find_map(|(i, w)| {
        w[0].contains(w[1].as_str()).then(|| {
            format!(
                "link {i} {:?} already contains its source's message {:?} (whole chain {chain:?})",
                w[0], w[1]
            )
        })
    })
}

/// Panics unless every link of `err`'s `source()` chain has a non-empty message that its parent's
/// message does not contain, so that a chain printer (`anyhow`'s `{:#}`, a `caused by:` list) shows
/// each cause once. Also panics when the chain is shorter than `min_links` (a test meant to see a
/// wrapped cause must not pass on an error that dropped it).
pub fn assert_each_cause_once(err: &(dyn Error + 'static), min_links: usize) {
    if let Some(why) = repeated_cause(err) {
        panic!("error chain repeats a cause: {why}");
    }
    let chain = error_chain(err);
    assert!(
        chain.len() >= min_links,
        "expected at least {min_links} links in the error chain, found {chain:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    /// An error that wraps an I/O error, printing it in its message (`embed`) or not.
    #[derive(Debug)]
    struct Wrapper {
        embed: bool,
        source: std::io::Error,
    }

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.embed {
                write!(f, "reading a.png: {}", self.source)
            } else {
                write!(f, "reading a.png")
            }
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.source)
        }
    }

    fn wrapper(embed: bool) -> Wrapper {
        Wrapper {
            embed,
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "unexpected end of file",
            ),
        }
    }

    #[test]
    fn chain_lists_each_link() {
        assert_eq!(
            error_chain(&wrapper(false)),
            ["reading a.png", "unexpected end of file"]
        );
        assert_each_cause_once(&wrapper(false), 2);
    }

    #[test]
    fn embedded_and_exposed_source_is_reported() {
        let why = repeated_cause(&wrapper(true)).expect("the cause is printed twice");
        assert!(
            why.starts_with("link 0 \"reading a.png: unexpected end of file\""),
            "{why}"
        );
        let caught = std::panic::catch_unwind(|| assert_each_cause_once(&wrapper(true), 1));
        assert!(caught.is_err());
    }

    #[test]
    fn too_short_chain_fails() {
        let e = || std::io::Error::other("disk on fire");
        assert_eq!(error_chain(&e()), ["disk on fire"]);
        assert!(std::panic::catch_unwind(|| assert_each_cause_once(&e(), 2)).is_err());
    }
}
