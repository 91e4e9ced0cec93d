//! A writer process killed mid-run: finished shards survive, nothing half-written is ever read,
//! and the resumed run computes only the missing shards.
//!
//! The child process is this test binary itself, re-run with `PATCHLENS_STORE_CHILD=<mode>:<dir>`
//! and filtered to the `child_process_entry` test, which does nothing in a normal test run.

use patchlens_store::{FeatureStore, KeySpec, Labels, Origin, Shard, ShardKey, StoreError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "PATCHLENS_STORE_CHILD";
/// Shards in the "blocking" scenario; the child hangs while computing shard `BLOCK_AT`.
const N_BLOCK: usize = 8;
const BLOCK_AT: usize = 5;
/// Shards in the "kill during writes" scenario, each `ROWS_BIG x DIM_BIG` f32 (4 MiB).
const N_BIG: usize = 32;
const ROWS_BIG: usize = 1024;
const DIM_BIG: usize = 1024;

fn key(i: usize) -> ShardKey {
    ShardKey::derive(&KeySpec {
        model_id: "test".into(),
        weights_sha256: "00".repeat(32),
        layer: 1,
        preprocessing: "none".into(),
        dataset: "synthetic".into(),
        image_ids: vec![format!("image_{i:03}")],
    })
}

fn make_shard(i: usize, rows: usize, dim: usize) -> Shard {
    let f: Vec<f32> = (0..rows * dim)
        .map(|j| ((i * 7919 + j) % 10007) as f32)
        .collect();
    let l: Vec<u16> = (0..rows).map(|j| ((i + j) % 19) as u16).collect();
    Shard::new(f, dim, Some(Labels::U16(l))).unwrap()
}

/// Entry point of the child process (a no-op unless `PATCHLENS_STORE_CHILD` is set).
#[test]
fn child_process_entry() {
    let Ok(var) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, dir) = var.split_once(':').expect("mode:dir");
    let dir = PathBuf::from(dir);
    let store = FeatureStore::open(&dir).unwrap();
    match mode {
        "block" => {
            for i in 0..N_BLOCK {
                store
                    .get_or_compute(&key(i), || {
                        if i == BLOCK_AT {
                            std::fs::write(dir.join("child-blocked"), b"").unwrap();
                            loop {
                                std::thread::sleep(Duration::from_secs(1));
                            }
                        }
                        Ok::<_, StoreError>(make_shard(i, 4, 3))
                    })
                    .unwrap();
            }
        }
        "big" => {
            for i in 0..N_BIG {
                store
                    .get_or_compute(&key(i), || {
                        Ok::<_, StoreError>(make_shard(i, ROWS_BIG, DIM_BIG))
                    })
                    .unwrap();
            }
            std::fs::write(dir.join("child-finished"), b"").unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn_child(mode: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(cond: impl Fn() -> bool, what: &str) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Resumes over `n` shards, returning how many the closure computed; checks every shard's content.
fn resume(store: &FeatureStore, n: usize, rows: usize, dim: usize) -> usize {
    let calls = AtomicUsize::new(0);
    for i in 0..n {
        let got = store
            .get_or_compute(&key(i), || {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, StoreError>(make_shard(i, rows, dim))
            })
            .unwrap();
        assert!(got.warnings.is_empty(), "shard {i}: {:?}", got.warnings);
        assert_eq!(got.shard, make_shard(i, rows, dim), "shard {i}");
    }
    calls.load(Ordering::SeqCst)
}

#[test]
fn killed_during_compute_resumes_only_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("block", dir.path());
    wait_for(
        || dir.path().join("child-blocked").exists(),
        "child to block",
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let store = FeatureStore::open(dir.path()).unwrap();
    let finished: Vec<_> = (0..BLOCK_AT).map(key).collect();
    assert_eq!(store.keys().unwrap(), {
        let mut k = finished.clone();
        k.sort();
        k
    });
    let calls = resume(&store, N_BLOCK, 4, 3);
    assert_eq!(calls, N_BLOCK - BLOCK_AT);
    // Second re-run: everything cached.
    assert_eq!(resume(&store, N_BLOCK, 4, 3), 0);
    for i in 0..N_BLOCK {
        let got = store
            .get_or_compute(&key(i), || Err::<Shard, _>("must not run"))
            .unwrap();
        assert_eq!(got.origin, Origin::Cached);
    }
}

#[test]
fn killed_during_writes_never_leaves_a_readable_half_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("big", dir.path());
    let store = FeatureStore::open(dir.path()).unwrap();
    // Kill once a few shards are done, while the child is busy writing the next ones.
    wait_for(
        || store.keys().map(|k| k.len() >= 3).unwrap_or(false),
        "first shards",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dir.path().join("child-finished").exists(),
        "child finished before the kill; test proves nothing"
    );

    // Every file under a shard name is complete and valid.
    let present = store.keys().unwrap();
    assert!(
        present.len() >= 3 && present.len() < N_BIG,
        "{} shards present",
        present.len()
    );
    assert!(store.verify_all().unwrap().is_empty());
    let calls = resume(&store, N_BIG, ROWS_BIG, DIM_BIG);
    assert_eq!(calls, N_BIG - present.len());
    assert!(store.remove_stale_temp_files(Duration::ZERO).unwrap() <= 1);
}
