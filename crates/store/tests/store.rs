//! Round trips, keys, checksums, corruption handling and concurrent readers.

use patchlens_store::{
    CorruptReason, FeatureStore, KeySpec, Labels, META_SHA256, Origin, Shard, ShardKey, StoreError,
    StoreWarning, sha256_file, sha256_hex,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn spec() -> KeySpec {
    KeySpec {
        model_id: "dino_vitb16".into(),
        weights_sha256: "ab".repeat(32),
        layer: 12,
        preprocessing: "tile224".into(),
        dataset: "cityscapes/set4_72".into(),
        image_ids: vec!["img_a".into(), "img_b".into()],
    }
}

fn key(i: usize) -> ShardKey {
    let mut s = spec();
    s.image_ids = vec![format!("img_{i}")];
    ShardKey::derive(&s)
}

fn shard(seed: usize, n: usize, dim: usize) -> Shard {
    let f: Vec<f32> = (0..n * dim)
        .map(|j| (seed * 1000 + j) as f32 * 0.25)
        .collect();
    let l: Vec<i32> = (0..n).map(|j| (seed + j) as i32 - 1).collect();
    Shard::new(f, dim, Some(Labels::I32(l)))
        .unwrap()
        .with_metadata("source", format!("seed{seed}"))
        .unwrap()
}

/// The key of a hand-built spec equals the sha256 of the documented byte layout, computed independently
/// with Python: `hashlib.sha256(b"patchlens-store/key/v1" + field(b"dino_vitb16") + field(b"ab"*32)
/// + field(b"12") + field(b"tile224") + field(b"cityscapes/set4_72") + struct.pack('<Q',2)
/// + field(b"img_a") + field(b"img_b"))` with `field(b) = struct.pack('<Q',len(b)) + b`.
#[test]
fn key_matches_independent_hash() {
    let k = ShardKey::derive(&spec());
    assert_eq!(
        k.as_str(),
        "3be6b78b5c980744c1775c0fcb36d477e5d03af6879408c29e1a2c4e8bab12e2"
    );
    assert_eq!(ShardKey::from_hex(k.as_str()).unwrap(), k);
    assert!(matches!(
        ShardKey::from_hex("xyz"),
        Err(StoreError::InvalidKey(_))
    ));
}

#[test]
fn key_changes_with_every_field() {
    let base = ShardKey::derive(&spec());
    type Edit = Box<dyn Fn(&mut KeySpec)>;
    let variants: Vec<Edit> = vec![
        Box::new(|s| s.model_id.push('x')),
        Box::new(|s| s.weights_sha256 = "cd".repeat(32)),
        Box::new(|s| s.layer = 11),
        Box::new(|s| s.preprocessing.push_str("/blur2")),
        Box::new(|s| s.dataset = "cityscapes/set2_36".into()),
        Box::new(|s| s.image_ids.reverse()),
        // Same concatenation, different split: must differ thanks to the length prefixes.
        Box::new(|s| s.image_ids = vec!["img_aimg_b".into()]),
    ];
    for (i, f) in variants.iter().enumerate() {
        let mut s = spec();
        f(&mut s);
        assert_ne!(ShardKey::derive(&s), base, "variant {i}");
    }
}

#[test]
fn sha256_hex_known_values() {
    // FIPS 180-2 test vectors.
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn sha256_file_known_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("abc");
    std::fs::write(&p, b"abc").unwrap();
    // FIPS 180-2 test vector.
    assert_eq!(
        sha256_file(&p).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // Larger than the 1 MiB read buffer (value from Python hashlib).
    std::fs::write(&p, vec![b'a'; 3_000_000]).unwrap();
    assert_eq!(
        sha256_file(&p).unwrap(),
        "2a152c894398719c0570f83fac34ac03a0f6e8e474b995c2403aa5434f7b9dd4"
    );
    assert!(matches!(
        sha256_file(dir.path().join("missing")),
        Err(StoreError::Io { .. })
    ));
}

#[test]
fn round_trip_all_label_types_and_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::open(dir.path().join("nested/store")).unwrap();
    let cases = [
        Shard::new(vec![1.0, 2.0], 2, Some(Labels::U8(vec![3]))).unwrap(),
        Shard::new(
            vec![1.0, -2.0, 0.5, 3.0],
            2,
            Some(Labels::U16(vec![65535, 0])),
        )
        .unwrap(),
        Shard::new(vec![1.0, -2.0, 0.5, 3.0], 2, Some(Labels::I32(vec![-1, 7]))).unwrap(),
        Shard::new(vec![0.0; 6], 3, None)
            .unwrap()
            .with_metadata("note", "no labels")
            .unwrap(),
        Shard::new(vec![], 768, Some(Labels::U8(vec![]))).unwrap(),
    ];
    for (i, s) in cases.iter().enumerate() {
        store.put(&key(i), s).unwrap();
        assert_eq!(store.get(&key(i)).unwrap().as_ref(), Some(s), "case {i}");
    }
    // The recorded checksum is the sha256 of the little-endian tensor bytes, features then labels
    // (Python: hashlib.sha256(struct.pack('<2f', 1.0, 2.0) + bytes([3]))).
    let bytes = std::fs::read(store.path_for(&key(0))).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        header.metadata().as_ref().unwrap()[META_SHA256],
        "f940b3bc42d1948526da689c733d33558e097c3da7e66b46b26f1fbc66a37637"
    );
    let bytes = std::fs::read(store.path_for(&key(2))).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        header.metadata().as_ref().unwrap()[META_SHA256],
        "404e55e5fa9cc2a15e36872213c00e2d72d39a0109eab2f77947f8109740a04b"
    );
    assert_eq!(store.keys().unwrap().len(), cases.len());
    assert!(store.verify_all().unwrap().is_empty());
}

#[test]
fn invalid_shards_are_rejected() {
    assert!(matches!(
        Shard::new(vec![1.0; 5], 2, None),
        Err(StoreError::InvalidShard(_))
    ));
    assert!(matches!(
        Shard::new(vec![1.0; 4], 0, None),
        Err(StoreError::InvalidShard(_))
    ));
    assert!(matches!(
        Shard::new(vec![1.0; 4], 2, Some(Labels::U8(vec![1]))),
        Err(StoreError::InvalidShard(_))
    ));
    let s = Shard::new(vec![1.0; 4], 2, None).unwrap();
    assert!(matches!(
        s.with_metadata("patchlens.sha256", "x"),
        Err(StoreError::ReservedMetadataKey(_))
    ));
}

#[test]
fn get_or_compute_skips_cached_shards() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::open(dir.path()).unwrap();
    let calls = AtomicUsize::new(0);
    for round in 0..3 {
        for i in 0..4 {
            let got = store
                .get_or_compute(&key(i), || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, StoreError>(shard(i, 3, 4))
                })
                .unwrap();
            assert_eq!(
                got.origin,
                if round == 0 {
                    Origin::Computed
                } else {
                    Origin::Cached
                }
            );
            assert!(got.warnings.is_empty());
            assert_eq!(got.shard, shard(i, 3, 4));
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // A failing closure is a typed error and leaves nothing behind.
    let err = store
        .get_or_compute(&key(99), || Err::<Shard, _>("model exploded"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Compute { .. }), "{err}");
    assert!(!store.contains(&key(99)));
}

/// Damages the file of `key(0)` with `damage`, checks `get` reports the expected reason and
/// `get_or_compute` warns, recomputes once, and leaves a valid file.
fn check_corruption(damage: impl Fn(&mut Vec<u8>), expect: impl Fn(&CorruptReason) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::open(dir.path()).unwrap();
    let good = shard(0, 16, 8);
    store.put(&key(0), &good).unwrap();
    let path = store.path_for(&key(0));
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();

    match store.get(&key(0)) {
        Err(StoreError::Corrupt { reason, path: p }) => {
            assert!(expect(&reason), "unexpected reason {reason:?}");
            assert_eq!(p, path);
        }
        other => panic!("corruption not detected: {other:?}"),
    }
    assert_eq!(store.verify_all().unwrap().len(), 1);
    let calls = AtomicUsize::new(0);
    let got = store
        .get_or_compute(&key(0), || {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StoreError>(good.clone())
        })
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(got.origin, Origin::Computed);
    assert!(matches!(
        got.warnings.as_slice(),
        [StoreWarning::CorruptShardRecomputed { .. }]
    ));
    assert_eq!(store.get(&key(0)).unwrap(), Some(good));
    assert!(store.verify_all().unwrap().is_empty());
}

#[test]
fn truncated_shard_is_detected_and_recomputed() {
    check_corruption(
        |b| b.truncate(b.len() / 2),
        |r| matches!(r, CorruptReason::Container(_)),
    );
    check_corruption(
        |b| b.truncate(b.len() - 1),
        |r| matches!(r, CorruptReason::Container(_)),
    );
    check_corruption(|b| b.clear(), |r| matches!(r, CorruptReason::Container(_)));
}

#[test]
fn flipped_data_byte_is_detected_and_recomputed() {
    // Last byte: inside the labels; a byte in the middle of the features.
    check_corruption(
        |b| {
            let i = b.len() - 1;
            b[i] ^= 0x01
        },
        |r| matches!(r, CorruptReason::ChecksumMismatch { .. }),
    );
    check_corruption(
        |b| {
            let i = b.len() - 300;
            b[i] ^= 0x80
        },
        |r| matches!(r, CorruptReason::ChecksumMismatch { .. }),
    );
}

#[test]
fn damaged_header_is_detected() {
    // Byte 9 is inside the JSON header: breaks the JSON or a recorded value.
    check_corruption(
        |b| b[9] = b'#',
        |r| matches!(r, CorruptReason::Container(_)),
    );
    // Garbage header length.
    check_corruption(
        |b| b[7] = 0xff,
        |r| matches!(r, CorruptReason::Container(_)),
    );
}

#[test]
fn file_under_wrong_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::open(dir.path()).unwrap();
    store.put(&key(0), &shard(0, 2, 2)).unwrap();
    std::fs::copy(store.path_for(&key(0)), store.path_for(&key(1))).unwrap();
    assert!(matches!(
        store.get(&key(1)),
        Err(StoreError::Corrupt {
            reason: CorruptReason::KeyMismatch { .. },
            ..
        })
    ));
}

#[test]
fn temp_files_are_never_read_as_shards_and_can_be_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeatureStore::open(dir.path()).unwrap();
    store.put(&key(0), &shard(0, 2, 2)).unwrap();
    // What a killed writer leaves behind.
    std::fs::write(
        dir.path().join(format!(".tmp-{}-1234-0", key(1))),
        b"half a shard",
    )
    .unwrap();
    assert_eq!(store.keys().unwrap(), vec![key(0)]);
    assert_eq!(store.get(&key(1)).unwrap(), None);
    assert_eq!(
        store
            .remove_stale_temp_files(Duration::from_secs(3600))
            .unwrap(),
        0
    );
    assert_eq!(store.remove_stale_temp_files(Duration::ZERO).unwrap(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Readers racing a writer that keeps replacing the file see a complete, verified shard every time.
#[test]
fn concurrent_readers_during_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FeatureStore::open(dir.path()).unwrap());
    let a = shard(1, 256, 64);
    let b = shard(2, 256, 64);
    store.put(&key(0), &a).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, a, b, done) = (store.clone(), a.clone(), b.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) || reads < 20 {
                    let got = store
                        .get(&key(0))
                        .expect("read failed")
                        .expect("shard vanished");
                    assert!(got == a || got == b);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..40 {
        store
            .put(&key(0), if i % 2 == 0 { &b } else { &a })
            .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() >= 20);
    }
    // Concurrent get_or_compute of the same missing key from several threads: all succeed with the
    // same content.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .get_or_compute(&key(7), || Ok::<_, StoreError>(shard(7, 64, 32)))
                    .unwrap()
                    .shard
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), shard(7, 64, 32));
    }
    assert!(store.verify_all().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temp files left"
    );
}

#[test]
fn error_chains_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("weights.bin");
    let os = std::fs::File::open(&missing).unwrap_err().to_string();
    let e = sha256_file(&missing).unwrap_err();
    assert_eq!(
        patchlens_testutil::error_chain(&e),
        [format!("I/O error on {}", missing.display()), os]
    );
    patchlens_testutil::assert_each_cause_once(&e, 2);

    let store = FeatureStore::open(dir.path()).unwrap();
    let k = key(7);
    let e = store
        .get_or_compute(&k, || {
            Err::<Shard, _>(std::io::Error::other("encoder ran out of memory"))
        })
        .unwrap_err();
    assert_eq!(
        patchlens_testutil::error_chain(&e),
        [
            format!("computing shard {k} failed"),
            "encoder ran out of memory".to_string()
        ]
    );
    patchlens_testutil::assert_each_cause_once(&e, 2);
}
