//! Official checkpoints: download zoo weights into a cache directory with resume and checksum
//! verification, convert each to safetensors once, and find them again (`cargo xtask fetch-weights` is the
//! command line of this module).
//!
//! Layout of the cache directory (default `$PATCHLENS_WEIGHTS_DIR`, else `$XDG_CACHE_HOME/patchlens/weights`,
//! else `~/.cache/patchlens/weights`):
//! - `original/<name>.<ext>`: the publisher's file, byte for byte (`ext` from the URL: `pth`, `bin`, …);
//!   while downloading it is `original/<name>.<ext>.part`, renamed into place only after verification;
//! - `<name>.safetensors`: every float tensor of the original as `float32` under its name in the file
//!   (nested `.pth` dictionaries as dotted paths; non-float entries are skipped and listed in the
//!   metadata), with `source_sha256` in its metadata; rebuilt only when the original changes;
//! - `checksums.json`: per zoo name the sha256, size and URL of the verified original.
//!
//! Resume: an existing `.part` file is continued with `Range: bytes=<size>-` (a server answering 200 instead
//! of 206 restarts it); a connection that drops mid-way is resumed automatically up to `--retries` times, and
//! a later run resumes whatever is left.
//!
//! Verification, in order: the zoo's full `sha256` when the publisher states one; torchvision's hash prefix
//! (`sha256_prefix`, the `-c867db91` of its file names); otherwise trust on first use: the first verified
//! download's sha256 is recorded in `checksums.json` and every later download of that name must match it.
//! A file that fails verification is deleted, never renamed into place.
//!
//! Custom addresses (mirrors, tests): `--url NAME=URL` (repeatable) or the environment variable
//! `PATCHLENS_WEIGHTS_URL_<NAME>` with the zoo name upper-cased (`PATCHLENS_WEIGHTS_URL_DINOV2_VITS14=…`);
//! the command line wins. The zoo's checksums still apply to a custom address. `http://` and `https://`
//! (rustls with the Mozilla roots) are supported.

// A failed download happens once per model; error size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Name of the checksum record inside the cache directory.
pub const CHECKSUMS_FILE: &str = "checksums.json";
/// Environment variable naming the default cache directory.
pub const CACHE_ENV: &str = "PATCHLENS_WEIGHTS_DIR";
/// Prefix of the per-model URL override variables (`PATCHLENS_WEIGHTS_URL_<NAME>`).
pub const URL_ENV_PREFIX: &str = "PATCHLENS_WEIGHTS_URL_";
/// Default number of automatic resumes after a dropped connection.
pub const DEFAULT_RETRIES: u32 = 3;

/// Errors of `fetch-weights`, each naming the model, address or file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not a zoo name.
    #[error("unknown model `{name}` (known: {known})")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The zoo's names.
        known: String,
    },
    /// A malformed `--url` value.
    #[error("--url `{0}` is not NAME=URL")]
    BadOverride(String),
    /// A URL scheme other than http/https.
    #[error("{name}: unsupported address `{url}` (only http:// and https://)")]
    BadUrl {
        /// Zoo name.
        name: String,
        /// The address.
        url: String,
    },
    /// The server answered with an error status.
    #[error("{name}: the server answered HTTP {status} for {url}{hint}")]
    HttpStatus {
        /// Zoo name.
        name: String,
        /// The address.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Extra advice (e.g. for 404).
        hint: &'static str,
    },
    /// Connection-level failure (refused, reset, DNS, TLS, timeout).
    #[error("{name}: cannot download {url}: {reason}")]
    Transport {
        /// Zoo name.
        name: String,
        /// The address.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The transfer stopped before the announced end (the `.part` file keeps what arrived).
    #[error(
        "{name}: download of {url} interrupted after {have} of {total} bytes: {reason} (run again to resume)"
    )]
    Interrupted {
        /// Zoo name.
        name: String,
        /// The address.
        url: String,
        /// Bytes in the `.part` file.
        have: u64,
        /// Announced size (`?` when unknown).
        total: String,
        /// What happened.
        reason: String,
    },
    /// The server's answer does not fit the request (e.g. a `Content-Range` starting elsewhere).
    #[error("{name}: unexpected answer from {url}: {reason}")]
    Protocol {
        /// Zoo name.
        name: String,
        /// The address.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The file's sha256 differs from the expected one.
    #[error(
        "{name}: checksum mismatch for {path}: expected {kind} {expected}, got sha256 {actual}{advice}"
    )]
    Checksum {
        /// Zoo name.
        name: String,
        /// The file checked.
        path: PathBuf,
        /// Which reference: `sha256`, `sha256 prefix`, `sha256 recorded in checksums.json`.
        kind: &'static str,
        /// The expected (prefix of the) digest.
        expected: String,
        /// The file's digest.
        actual: String,
        /// What happened to the file and what to do.
        advice: String,
    },
    /// A file-system operation failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `checksums.json` is unreadable.
    #[error("{path}: not a valid checksum record: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Parse error.
        reason: String,
    },
    /// The checkpoint cannot be converted.
    #[error("{name}: converting {path} to safetensors: {reason}")]
    Convert {
        /// Zoo name.
        name: String,
        /// The original file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to download and how to check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSpec {
    /// Zoo name (file names in the cache).
    pub name: String,
    /// Address.
    pub url: String,
    /// Full sha256 (lower-case hex), if published.
    pub sha256: Option<String>,
    /// sha256 prefix (torchvision), if published.
    pub sha256_prefix: Option<String>,
}

impl FetchSpec {
    /// The zoo entry `name`, its address replaced by `overrides[name]` or `$PATCHLENS_WEIGHTS_URL_<NAME>`.
    pub fn from_zoo(
        name: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<FetchSpec, FetchError> {
        let m = patchlens_vit::zoo::lookup(name).map_err(|_| FetchError::UnknownModel {
            name: name.to_string(),
            known: patchlens_vit::zoo::all()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let env = std::env::var(url_env_var(name))
            .ok()
            .filter(|s| !s.is_empty());
        let url = overrides
            .get(name)
            .cloned()
            .or(env)
            .unwrap_or_else(|| m.url.clone());
        Ok(FetchSpec {
            name: name.to_string(),
            url,
            sha256: m.sha256.as_ref().map(|s| s.to_ascii_lowercase()),
            sha256_prefix: m.sha256_prefix.as_ref().map(|s| s.to_ascii_lowercase()),
        })
    }

    /// File extension taken from the URL's last path segment (`pth`, `bin`, `safetensors`, …; `bin` if none).
    pub fn extension(&self) -> String {
        let path = self.url.split(['?', '#']).next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        match last.rsplit_once('.') {
            Some((stem, ext))
                if !stem.is_empty()
                    && !ext.is_empty()
                    && ext.len() <= 12
                    && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                ext.to_ascii_lowercase()
            }
            _ => "bin".to_string(),
        }
    }
}

/// The environment variable overriding the address of `name` (`PATCHLENS_WEIGHTS_URL_<NAME>`).
pub fn url_env_var(name: &str) -> String {
    let up: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{URL_ENV_PREFIX}{up}")
}

/// Parse `--url NAME=URL` values.
pub fn parse_overrides(values: &[String]) -> Result<BTreeMap<String, String>, FetchError> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((n, u)) if !n.trim().is_empty() && !u.trim().is_empty() => {
                Ok((n.trim().to_string(), u.trim().to_string()))
            }
            _ => Err(FetchError::BadOverride(v.clone())),
        })
        .collect()
}

/// The default cache directory (see the module docs).
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(CACHE_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("patchlens/weights");
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/patchlens/weights"),
        None => PathBuf::from("weights"),
    }
}

/// `<cache>/original/<name>.<ext>`.
pub fn original_path(cache_dir: &Path, spec: &FetchSpec) -> PathBuf {
    cache_dir
        .join("original")
        .join(format!("{}.{}", spec.name, spec.extension()))
}

/// `<cache>/<name>.safetensors`.
pub fn converted_path(cache_dir: &Path, name: &str) -> PathBuf {
    cache_dir.join(format!("{name}.safetensors"))
}

/// `<file>.part`.
pub fn part_path(original: &Path) -> PathBuf {
    let mut s = original.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Options of [`fetch`].
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Cache directory.
    pub cache_dir: PathBuf,
    /// Discard cached and partial files and download again.
    pub force: bool,
    /// Convert to safetensors.
    pub convert: bool,
    /// Automatic resumes after a dropped connection.
    pub retries: u32,
    /// Progress lines on stderr.
    pub progress: bool,
}

impl FetchOptions {
    /// Defaults for `cache_dir`: no force, convert, [`DEFAULT_RETRIES`], progress on.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            force: false,
            convert: true,
            retries: DEFAULT_RETRIES,
            progress: true,
        }
    }
}

/// How a file was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verified {
    /// Against the published full sha256.
    Sha256,
    /// Against the published sha256 prefix.
    Prefix,
    /// Against the sha256 recorded at the first download.
    Recorded,
    /// First download of a model without a published checksum: its sha256 was recorded.
    FirstUse,
}

/// Outcome of [`fetch`].
#[derive(Clone, Debug)]
pub struct Fetched {
    /// Zoo name.
    pub name: String,
    /// The verified original file.
    pub original: PathBuf,
    /// Its sha256 (lower-case hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// How it was verified.
    pub verified: Verified,
    /// Whether bytes were downloaded in this call (false: the cached file was reused).
    pub downloaded: bool,
    /// Bytes of an earlier partial download that this call continued from (0: none).
    pub resumed_from: u64,
    /// The safetensors conversion, if requested.
    pub converted: Option<PathBuf>,
    /// Whether an existing conversion was reused.
    pub conversion_reused: bool,
}

/// One entry of `checksums.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumRecord {
    /// sha256 of the original (lower-case hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Address it was downloaded from.
    pub url: String,
    /// How it was verified when recorded.
    pub verified: Verified,
    /// When (RFC 3339 UTC).
    pub recorded: String,
}

/// Read `<cache>/checksums.json` (empty when absent).
pub fn read_checksums(cache_dir: &Path) -> Result<BTreeMap<String, ChecksumRecord>, FetchError> {
    let path = cache_dir.join(CHECKSUMS_FILE);
    match fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| FetchError::Record {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(FetchError::Io { path, source: e }),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    patchlens_store::write_atomic(path, bytes).map_err(|(at, e)| io_err(&at)(e))
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn record_checksum(cache_dir: &Path, name: &str, rec: ChecksumRecord) -> Result<(), FetchError> {
    let mut all = read_checksums(cache_dir)?;
    all.insert(name.to_string(), rec);
    let text = serde_json::to_string_pretty(&all).map_err(|e| FetchError::Record {
        path: cache_dir.join(CHECKSUMS_FILE),
        reason: e.to_string(),
    })?;
    write_atomic(&cache_dir.join(CHECKSUMS_FILE), text.as_bytes())
}

/// sha256 of a file (lower-case hex).
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    patchlens_store::sha256_file(path).map_err(|e| match e {
        patchlens_store::StoreError::Io { path, source } => FetchError::Io { path, source },
        other => FetchError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(other.to_string()),
        },
    })
}

/// Check `sha256` against the spec's published checksum, else against `recorded`.
pub fn verify(
    spec: &FetchSpec,
    path: &Path,
    sha256: &str,
    recorded: Option<&ChecksumRecord>,
    advice: &str,
) -> Result<Verified, FetchError> {
    let mismatch = |kind: &'static str, expected: &str| FetchError::Checksum {
        name: spec.name.clone(),
        path: path.to_path_buf(),
        kind,
        expected: expected.to_string(),
        actual: sha256.to_string(),
        advice: advice.to_string(),
    };
    if let Some(full) = &spec.sha256 {
        return if full.eq_ignore_ascii_case(sha256) {
            Ok(Verified::Sha256)
        } else {
            Err(mismatch("sha256", full))
        };
    }
    if let Some(prefix) = &spec.sha256_prefix {
        return if sha256.starts_with(&prefix.to_ascii_lowercase()) {
            Ok(Verified::Prefix)
        } else {
            Err(mismatch("sha256 prefix", prefix))
        };
    }
    match recorded {
        Some(r) if r.sha256.eq_ignore_ascii_case(sha256) => Ok(Verified::Recorded),
        Some(r) => Err(mismatch("sha256 recorded in checksums.json", &r.sha256)),
        None => Ok(Verified::FirstUse),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_recv_body(None)
        .user_agent(concat!(
            "patchlens-fetch-weights/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .new_agent()
}

fn header<'a>(resp: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A parsed `Content-Range`: the byte range `(first, last)` (None for `*`) and the total size (None for `*`).
pub type ContentRange = (Option<(u64, u64)>, Option<u64>);

/// Parse `Content-Range: bytes S-E/T` (or `bytes */T`).
pub fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let range = match range.trim() {
        "*" => None,
        r => {
            let (s, e) = r.split_once('-')?;
            Some((s.trim().parse().ok()?, e.trim().parse().ok()?))
        }
    };
    Some((range, total))
}

/// Whether an error is worth an automatic resume.
fn retryable(e: &FetchError) -> bool {
    match e {
        FetchError::Interrupted { .. } | FetchError::Transport { .. } => true,
        FetchError::HttpStatus { status, .. } => *status >= 500,
        _ => false,
    }
}

/// Download `url` into `part`, continuing an existing partial file; retries dropped connections.
/// Returns the number of bytes the partial file had before this call.
pub fn download(
    name: &str,
    url: &str,
    part: &Path,
    retries: u32,
    progress: bool,
) -> Result<u64, FetchError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(FetchError::BadUrl {
            name: name.to_string(),
            url: url.to_string(),
        });
    }
    let initial = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let agent = agent();
    let mut attempt = 0;
    loop {
        match download_once(&agent, name, url, part, progress) {
            Ok(()) => return Ok(initial),
            Err(e) if retryable(&e) && attempt < retries => {
                attempt += 1;
                tracing::warn!("{e}; resuming (retry {attempt}/{retries})");
                std::thread::sleep(Duration::from_millis(200 * attempt as u64));
            }
            Err(e) => return Err(e),
        }
    }
}

fn download_once(
    agent: &ureq::Agent,
    name: &str,
    url: &str,
    part: &Path,
    progress: bool,
) -> Result<(), FetchError> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let transport = |e: ureq::Error| FetchError::Transport {
        name: name.into(),
        url: url.into(),
        reason: e.to_string(),
    };
    let protocol = |reason: String| FetchError::Protocol {
        name: name.into(),
        url: url.into(),
        reason,
    };
    let resp = req.call().map_err(transport)?;
    let status = resp.status().as_u16();
    let content_length: Option<u64> =
        header(&resp, "content-length").and_then(|v| v.trim().parse().ok());
    let (mut file, start, total) = match status {
        200 => {
            if have > 0 && progress {
                tracing::warn!(
                    "{name}: the server does not resume (HTTP 200 to a range request); starting over"
                );
            }
            let f = File::create(part).map_err(io_err(part))?;
            (f, 0, content_length)
        }
        206 => {
            let cr = header(&resp, "content-range")
                .ok_or_else(|| protocol("HTTP 206 without Content-Range".into()))?;
            let (range, total) = parse_content_range(cr)
                .ok_or_else(|| protocol(format!("unreadable Content-Range `{cr}`")))?;
            let (s, e) =
                range.ok_or_else(|| protocol(format!("Content-Range `{cr}` has no range")))?;
            if s != have {
                return Err(protocol(format!(
                    "asked for bytes from {have}, got Content-Range `{cr}`"
                )));
            }
            let f = OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(io_err(part))?;
            (f, have, total.or(Some(e + 1)))
        }
        416 if have > 0 => {
            let total = header(&resp, "content-range")
                .and_then(parse_content_range)
                .and_then(|(_, t)| t);
            if total == Some(have) {
                return Ok(());
            }
            // The partial file does not fit the server's file: start over.
            fs::remove_file(part).map_err(io_err(part))?;
            return Err(FetchError::Interrupted {
                name: name.into(),
                url: url.into(),
                have: 0,
                total: total.map_or("?".into(), |t| t.to_string()),
                reason: format!(
                    "the server refused to resume from byte {have} (HTTP 416); partial file discarded"
                ),
            });
        }
        s => {
            return Err(FetchError::HttpStatus {
                name: name.into(),
                url: url.into(),
                status: s,
                hint: match s {
                    404 => " (not found: check the zoo address or --url)",
                    401 | 403 => " (access denied: the file may need a login or have moved)",
                    _ => "",
                },
            });
        }
    };
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = start;
    let mut bar = progress.then(|| crate::progress::Progress::bytes(name, total));
    let total_s = total.map_or("?".to_string(), |t| t.to_string());
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                file.sync_all().map_err(io_err(part))?;
                return Err(FetchError::Interrupted {
                    name: name.into(),
                    url: url.into(),
                    have: got,
                    total: total_s,
                    reason: e.to_string(),
                });
            }
        };
        file.write_all(&buf[..n]).map_err(io_err(part))?;
        got += n as u64;
        if let Some(b) = bar.as_mut() {
            b.set_position(got);
        }
    }
    file.sync_all().map_err(io_err(part))?;
    drop(bar);
    if let Some(t) = total
        && got != t
    {
        return Err(FetchError::Interrupted {
            name: name.into(),
            url: url.into(),
            have: got,
            total: total_s,
            reason: "connection closed early".into(),
        });
    }
    Ok(())
}

/// Fetch one model: reuse or download (with resume), verify, rename into place, record, convert.
pub fn fetch(spec: &FetchSpec, opts: &FetchOptions) -> Result<Fetched, FetchError> {
    let cache = &opts.cache_dir;
    let original = original_path(cache, spec);
    let part = part_path(&original);
    let converted = converted_path(cache, &spec.name);
    let dir = original.parent().unwrap_or(cache);
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    if opts.force {
        for p in [&original, &part, &converted] {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(FetchError::Io {
                        path: p.clone(),
                        source: e,
                    });
                }
            }
        }
    }
    let recorded = read_checksums(cache)?.remove(&spec.name);
    let (sha, verified, downloaded, resumed_from) = if original.is_file() {
        let sha = sha256_file(&original)?;
        let v = verify(
            spec,
            &original,
            &sha,
            recorded.as_ref(),
            " (the cached file is kept; run with --force to download it again)",
        )?;
        (sha, v, false, 0)
    } else {
        if opts.progress {
            tracing::info!("{}: downloading {}", spec.name, spec.url);
        }
        let resumed_from = download(&spec.name, &spec.url, &part, opts.retries, opts.progress)?;
        let sha = sha256_file(&part)?;
        let advice = " (the download was deleted; if the publisher changed the file, remove its entry from checksums.json)";
        let v = match verify(spec, &part, &sha, recorded.as_ref(), advice) {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&part);
                return Err(e);
            }
        };
        fs::rename(&part, &original).map_err(io_err(&original))?;
        (sha, v, true, resumed_from)
    };
    let size = fs::metadata(&original).map_err(io_err(&original))?.len();
    if recorded
        .as_ref()
        .is_none_or(|r| r.sha256 != sha || r.size != size)
    {
        record_checksum(
            cache,
            &spec.name,
            ChecksumRecord {
                sha256: sha.clone(),
                size,
                url: spec.url.clone(),
                verified: verified.clone(),
                recorded: patchlens_report::utc_now_rfc3339(),
            },
        )?;
    }
    let (converted, conversion_reused) = if opts.convert {
        if converted_source_sha(&converted).as_deref() == Some(sha.as_str()) {
            (Some(converted), true)
        } else {
            let mut meta = BTreeMap::new();
            meta.insert("source_sha256".to_string(), sha.clone());
            meta.insert("source_url".to_string(), spec.url.clone());
            meta.insert("zoo_name".to_string(), spec.name.clone());
            convert_to_safetensors(&spec.name, &original, &converted, &meta)?;
            (Some(converted), false)
        }
    } else {
        (None, false)
    };
    Ok(Fetched {
        name: spec.name.clone(),
        original,
        sha256: sha,
        size,
        verified,
        downloaded,
        resumed_from,
        converted,
        conversion_reused,
    })
}

/// The `source_sha256` metadata of an existing converted file (None if absent or unreadable).
pub fn converted_source_sha(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n).ok()?;
    let n = u64::from_le_bytes(n);
    if n > 100_000_000 {
        return None;
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&h).ok()?;
    v.get("__metadata__")?
        .get("source_sha256")?
        .as_str()
        .map(str::to_string)
}

/// Summary of a conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converted {
    /// Tensors written (as float32).
    pub tensors: usize,
    /// Non-float entries left out.
    pub skipped: Vec<String>,
}

/// Write every float tensor of the checkpoint `src` (`.pth`/`.bin`/`.safetensors`) as float32 under its name
/// in the file to the safetensors file `dst` (atomically, streamed one tensor at a time), with `metadata`
/// plus `skipped_non_float` in the header.
pub fn convert_to_safetensors(
    name: &str,
    src: &Path,
    dst: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<Converted, FetchError> {
    use patchlens_vit::checkpoint::{Checkpoint, StoredDType};
    let conv = |reason: String| FetchError::Convert {
        name: name.to_string(),
        path: src.to_path_buf(),
        reason,
    };
    let ck = Checkpoint::open(src).map_err(|e| conv(crate::error::chain(&e)))?;
    let mut keep: Vec<(&String, &Vec<usize>)> = Vec::new();
    let mut skipped = Vec::new();
    for (k, t) in &ck.tensors {
        match t.dtype {
            StoredDType::Other(_) => skipped.push(k.clone()),
            _ => keep.push((k, &t.shape)),
        }
    }
    if keep.is_empty() {
        return Err(conv("the file holds no float tensor".into()));
    }
    let mut header = serde_json::Map::new();
    let mut meta: serde_json::Map<String, serde_json::Value> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    meta.insert("skipped_non_float".into(), skipped.join(",").into());
    meta.insert(
        "converted_by".into(),
        "patchlens fetch-weights (every float tensor as float32)".into(),
    );
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let mut offset = 0u64;
    for (k, shape) in &keep {
        let bytes = 4 * shape.iter().product::<usize>() as u64;
        header.insert(
            (*k).clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes] }),
        );
        offset += bytes;
    }
    let mut h = serde_json::to_vec(&header).map_err(|e| conv(e.to_string()))?;
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let tmp = tmp_path(dst);
    let result = (|| -> Result<(), FetchError> {
        let mut w = io::BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?);
        w.write_all(&(h.len() as u64).to_le_bytes())
            .map_err(io_err(&tmp))?;
        w.write_all(&h).map_err(io_err(&tmp))?;
        for (k, shape) in &keep {
            let v = ck.read_f32(k).map_err(|e| conv(crate::error::chain(&e)))?;
            if v.len() != shape.iter().product::<usize>() {
                return Err(conv(format!(
                    "tensor `{k}`: {} values for shape {shape:?}",
                    v.len()
                )));
            }
            let mut bytes = Vec::with_capacity(v.len() * 4);
            for x in v {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            w.write_all(&bytes).map_err(io_err(&tmp))?;
        }
        let f = w.into_inner().map_err(|e| FetchError::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, dst).map_err(io_err(dst))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    Ok(Converted {
        tensors: keep.len(),
        skipped,
    })
}

/// The checkpoint of zoo model `name` in `root` as [`fetch`] lays it out: `<root>/<name>.safetensors`,
/// else `<root>/original/<name>.*` (not a partial download), else `<root>/<name>.{pth,pt,bin}`.
pub fn find_weights(root: &Path, name: &str) -> Option<PathBuf> {
    let converted = converted_path(root, name);
    if converted.is_file() {
        return Some(converted);
    }
    if let Ok(rd) = std::fs::read_dir(root.join("original")) {
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_stem().and_then(|s| s.to_str()) == Some(name)
                    && p.extension().and_then(|e| e.to_str()) != Some("part")
            })
            .collect();
        found.sort();
        if let Some(p) = found.into_iter().next() {
            return Some(p);
        }
    }
    ["pth", "pt", "bin"]
        .iter()
        .map(|e| root.join(format!("{name}.{e}")))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_layout_is_found() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find_weights(d.path(), "dino_vitb16"), None);
        std::fs::create_dir_all(d.path().join("original")).unwrap();
        std::fs::write(d.path().join("original/dino_vitb16.pth.part"), b"x").unwrap();
        assert_eq!(
            find_weights(d.path(), "dino_vitb16"),
            None,
            "a partial download is not weights"
        );
        std::fs::write(d.path().join("original/dino_vitb16.pth"), b"x").unwrap();
        assert_eq!(
            find_weights(d.path(), "dino_vitb16"),
            Some(d.path().join("original/dino_vitb16.pth"))
        );
        std::fs::write(d.path().join("dino_vitb16.safetensors"), b"x").unwrap();
        assert_eq!(
            find_weights(d.path(), "dino_vitb16"),
            Some(d.path().join("dino_vitb16.safetensors"))
        );
    }
}
