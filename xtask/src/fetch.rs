//! `cargo xtask fetch-weights NAME… [--cache-dir DIR] [--force] [--url NAME=URL] [--no-convert]`: download zoo
//! checkpoints into a cache directory with resume and checksum verification, and convert each to safetensors
//! once (`patchlens_eval::weights` documents the layout, the resume and the verification).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use patchlens_eval::weights::{
    DEFAULT_RETRIES, FetchOptions, FetchSpec, Verified, default_cache_dir, fetch, parse_overrides,
};

/// Arguments of `fetch-weights`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Zoo names to fetch (`cargo xtask models` lists them).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Cache directory (default: $PATCHLENS_WEIGHTS_DIR, else $XDG_CACHE_HOME/patchlens/weights, else ~/.cache/patchlens/weights).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Download again even if a verified file is cached (a partial download is discarded too).
    #[arg(long)]
    pub force: bool,
    /// Fetch NAME from URL instead of the zoo's address (repeatable; also `PATCHLENS_WEIGHTS_URL_<NAME>`).
    #[arg(long = "url", value_name = "NAME=URL")]
    pub urls: Vec<String>,
    /// Keep only the original file (no safetensors conversion).
    #[arg(long)]
    pub no_convert: bool,
    /// Automatic resumes after a dropped connection.
    #[arg(long, default_value_t = DEFAULT_RETRIES)]
    pub retries: u32,
}

/// Run `fetch-weights`.
pub fn run(args: &FetchArgs) -> Result<()> {
    let overrides = parse_overrides(&args.urls)?;
    for n in overrides.keys() {
        if !args.names.contains(n) {
            bail!(
                "--url names `{n}`, which is not among the models to fetch ({})",
                args.names.join(", ")
            );
        }
    }
    let cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let opts = FetchOptions {
        force: args.force,
        convert: !args.no_convert,
        retries: args.retries,
        ..FetchOptions::new(cache_dir)
    };
    // Resolve every name first so a typo fails before any download.
    let specs: Vec<FetchSpec> = args
        .names
        .iter()
        .map(|n| FetchSpec::from_zoo(n, &overrides).map_err(anyhow::Error::from))
        .collect::<Result<_>>()?;
    let mut failed = Vec::new();
    for spec in &specs {
        match fetch(spec, &opts) {
            Ok(f) => {
                let how = match f.verified {
                    Verified::Sha256 => "sha256 verified",
                    Verified::Prefix => "sha256 prefix verified",
                    Verified::Recorded => "matches the recorded sha256",
                    Verified::FirstUse => "first download, sha256 recorded",
                };
                let src = if !f.downloaded {
                    "cached"
                } else if f.resumed_from > 0 {
                    "resumed"
                } else {
                    "downloaded"
                };
                let conv = match (&f.converted, f.conversion_reused) {
                    (Some(p), true) => format!(" → {} (reused)", p.display()),
                    (Some(p), false) => format!(" → {}", p.display()),
                    (None, _) => String::new(),
                };
                println!(
                    "{}: {} {} ({} bytes, sha256 {}, {how}){conv}",
                    f.name,
                    src,
                    f.original.display(),
                    f.size,
                    f.sha256
                );
            }
            Err(e) => {
                tracing::error!("{:#}", anyhow::Error::new(e));
                failed.push(spec.name.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} models failed: {}",
            failed.len(),
            specs.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
