//! The on-disk feature store: one safetensors file per shard key, written atomically.

use crate::error::{CorruptReason, StoreError, StoreWarning, io_err};
use crate::key::{ShardKey, is_key};
use crate::shard::Shard;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// File extension of shard files: a shard lives at `<dir>/<key>.safetensors`.
pub const SHARD_EXT: &str = "safetensors";
/// Prefix of temporary files (`.tmp-<key>-<pid>-<n>`); never matches the shard naming.
const TMP_PREFIX: &str = ".tmp-";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where the shard returned by [`FeatureStore::get_or_compute`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from a valid cached file; the closure was not called.
    Cached,
    /// Computed by the closure (no file, or a corrupt one) and written to the store.
    Computed,
}

/// Result of [`FeatureStore::get_or_compute`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The shard (as read back from the cache, or as computed).
    pub shard: Shard,
    /// Whether the closure ran.
    pub origin: Origin,
    /// Non-fatal events (e.g. a corrupt file that was replaced).
    pub warnings: Vec<StoreWarning>,
}

/// A directory of feature shards keyed by content ([`ShardKey`]).
///
/// Layout: `<dir>/<64-hex key>.safetensors`. Writes go to a temporary file in the same directory
/// (named `.tmp-...`, which never parses as a shard name), are fsynced, then renamed over the final
/// name, and the directory is fsynced. A reader therefore sees either no file or a complete one;
/// any damage that happens anyway (disk errors, manual edits, truncation) is caught by the
/// checksum in the file's metadata.
///
/// Several processes and threads may read and write one store concurrently: two writers of the
/// same key both write complete files and the last rename wins (both hold the same content when
/// the compute is deterministic).
#[derive(Debug, Clone)]
pub struct FeatureStore {
    dir: PathBuf,
}

impl FeatureStore {
    /// Opens (creating if needed) the store directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<FeatureStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(FeatureStore { dir })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the shard file for `key` (which may not exist).
    pub fn path_for(&self, key: &ShardKey) -> PathBuf {
        self.dir.join(format!("{}.{SHARD_EXT}", key.as_str()))
    }

    /// True when a file exists for `key` (its content is not checked; see [`FeatureStore::get`]).
    pub fn contains(&self, key: &ShardKey) -> bool {
        self.path_for(key).is_file()
    }

    /// Reads and verifies the shard for `key`.
    ///
    /// `Ok(None)` when there is no file; [`StoreError::Corrupt`] when the file is present but
    /// truncated, unparsable, for another key, or fails its checksum.
    pub fn get(&self, key: &ShardKey) -> Result<Option<Shard>, StoreError> {
        let path = self.path_for(key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Shard::decode(&bytes, key.as_str())
            .map(Some)
            .map_err(|reason| StoreError::Corrupt { path, reason })
    }

    /// Writes `shard` under `key` atomically (temp file + fsync + rename + directory fsync),
    /// replacing any existing file.
    pub fn put(&self, key: &ShardKey, shard: &Shard) -> Result<(), StoreError> {
        let bytes = shard.encode(key.as_str())?;
        let final_path = self.path_for(key);
        let tmp = self.dir.join(format!(
            "{TMP_PREFIX}{}-{}-{}",
            key.as_str(),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> Result<(), StoreError> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            f.write_all(&bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            drop(f);
            std::fs::rename(&tmp, &final_path).map_err(io_err(&final_path))?;
            Ok(())
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&self.dir)
    }

    /// Returns the cached shard for `key`, or computes it with `compute`, stores it and returns it.
    ///
    /// A missing file is computed silently; a corrupt one is reported as
    /// [`StoreWarning::CorruptShardRecomputed`] in [`Fetched::warnings`] and recomputed. I/O errors
    /// other than "not found" and errors of the closure are returned as errors.
    pub fn get_or_compute<F, E>(&self, key: &ShardKey, compute: F) -> Result<Fetched, StoreError>
    where
        F: FnOnce() -> Result<Shard, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut warnings = Vec::new();
        match self.get(key) {
            Ok(Some(shard)) => {
                return Ok(Fetched {
                    shard,
                    origin: Origin::Cached,
                    warnings,
                });
            }
            Ok(None) => {}
            Err(StoreError::Corrupt { path, reason }) => {
                warnings.push(StoreWarning::CorruptShardRecomputed { path, reason });
            }
            Err(e) => return Err(e),
        }
        let shard = compute().map_err(|e| StoreError::Compute {
            key: key.to_string(),
            source: e.into(),
        })?;
        self.put(key, &shard)?;
        Ok(Fetched {
            shard,
            origin: Origin::Computed,
            warnings,
        })
    }

    /// Lists the keys that have a shard file (content not verified), sorted.
    pub fn keys(&self) -> Result<Vec<ShardKey>, StoreError> {
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(&format!(".{SHARD_EXT}"))
                && is_key(stem)
            {
                keys.push(ShardKey::from_hex(stem)?);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Verifies every shard file; returns the corrupt ones with their reason.
    pub fn verify_all(&self) -> Result<Vec<(ShardKey, CorruptReason)>, StoreError> {
        let mut bad = Vec::new();
        for key in self.keys()? {
            match self.get(&key) {
                Ok(_) => {}
                Err(StoreError::Corrupt { reason, .. }) => bad.push((key, reason)),
                Err(e) => return Err(e),
            }
        }
        Ok(bad)
    }

    /// Removes temporary files left by killed writers that are older than `min_age`
    /// (pass a generous age, e.g. an hour, when other writers may be running). Returns how many
    /// were removed.
    pub fn remove_stale_temp_files(&self, min_age: Duration) -> Result<usize, StoreError> {
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            if !entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX))
            {
                continue;
            }
            let path = entry.path();
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(io_err(&path))?;
            if now.duration_since(modified).unwrap_or_default() >= min_age {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
        }
        Ok(removed)
    }
}

/// fsyncs a directory so that a rename in it is durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
