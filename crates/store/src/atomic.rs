//! Atomic file writes shared by every writer of the project (checkpoints, results, reports, weights).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `path` atomically: a temporary file `.NAME.tmp-PID-N` in the same directory
/// (created exclusively), `fsync`, then a rename over `path`. An interrupted or failed write leaves the
/// previous file (or none) and removes its temporary file; readers never see a partial file. Parent
/// directories are created. The error names the file that failed (the temporary file or `path`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> Result<(), (PathBuf, std::io::Error)> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| (tmp.clone(), e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| (tmp.clone(), e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| (path.to_path_buf(), e))
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/a.bin");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(d.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.bin")]);
        // A target that cannot be replaced (a directory) fails naming it, and cleans up.
        let (at, _) = write_atomic(d.path(), b"x").unwrap_err();
        assert!(!at.as_os_str().is_empty());
        let ours = format!(
            ".{}.tmp-{}-",
            d.path().file_name().unwrap().to_string_lossy(),
            std::process::id()
        );
        let stray = std::fs::read_dir(d.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
            .count();
        assert_eq!(stray, 0);
    }
}
