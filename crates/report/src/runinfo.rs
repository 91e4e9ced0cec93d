//! Collecting run information: git commit, UTC date, peak memory, stage timings.

use crate::schema::{RunInfo, StageTiming};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Peak resident set size of this process in bytes: `VmHWM` of `/proc/self/status` (Linux only;
/// `None` elsewhere or if unreadable).
pub fn peak_memory_bytes() -> Option<u64> {
    parse_vmhwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Parses the `VmHWM:  <n> kB` line of a `/proc/<pid>/status` text into bytes.
pub fn parse_vmhwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = match parts.next() {
        Some("kB") | None => 1024,
        Some("mB") | Some("MB") => 1024 * 1024,
        Some(_) => return None,
    };
    Some(value * unit)
}

/// `git rev-parse HEAD` in `repo`, suffixed `-dirty` when `git status --porcelain` lists tracked
/// changes; `None` when git or the repository is unavailable.
pub fn git_commit(repo: impl AsRef<Path>) -> Option<String> {
    let repo = repo.as_ref();
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// The current time as RFC 3339 UTC with second precision (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn utc_now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_rfc3339(secs as i64)
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn format_rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let rem = unix_seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl RunInfo {
    /// Run information for now: git commit of `repo`, current UTC date, the given backend, device
    /// and thread count, no stages yet, and the peak memory so far (refresh it with
    /// [`RunInfo::update_peak_memory`] at the end of the run).
    pub fn collect(repo: impl AsRef<Path>, backend: &str, device: &str, threads: usize) -> RunInfo {
        RunInfo {
            git_commit: git_commit(repo),
            date: utc_now_rfc3339(),
            backend: backend.into(),
            device: device.into(),
            precision: "f32".into(),
            threads,
            stages: Vec::new(),
            peak_memory_bytes: peak_memory_bytes(),
            extra: serde_json::Map::new(),
        }
    }

    /// Re-reads the peak memory (`VmHWM`).
    pub fn update_peak_memory(&mut self) {
        self.peak_memory_bytes = peak_memory_bytes().or(self.peak_memory_bytes);
    }
}

/// Measures consecutive stages' wall-clock time.
///
/// ```
/// let mut t = patchlens_report::StageTimer::new();
/// let x = t.time("embed", || 40 + 2);
/// assert_eq!(x, 42);
/// assert_eq!(t.stages()[0].name, "embed");
/// ```
#[derive(Debug, Default)]
pub struct StageTimer {
    stages: Vec<StageTiming>,
}

impl StageTimer {
    /// A timer with no stages.
    pub fn new() -> StageTimer {
        StageTimer::default()
    }

    /// Runs `f`, recording its wall-clock time under `name`.
    pub fn time<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let t0 = Instant::now();
        let out = f();
        self.stages.push(StageTiming {
            name: name.into(),
            seconds: t0.elapsed().as_secs_f64(),
        });
        out
    }

    /// The recorded stages, in order.
    pub fn stages(&self) -> &[StageTiming] {
        &self.stages
    }

    /// Consumes the timer, returning the stages (for [`RunInfo::stages`]).
    pub fn into_stages(self) -> Vec<StageTiming> {
        self.stages
    }
}
