//! Weights downloads (`patchlens_eval::weights`) against a local HTTP server on 127.0.0.1
//! (`support/http_server.rs`): resume of a cut transfer with `Range`, checksum verification (full sha256,
//! prefix, trust on first use), 404, atomic finalisation and the one-time safetensors conversion. The
//! command line (`--url`, `PATCHLENS_WEIGHTS_URL_<NAME>`) is tested in `xtask/tests/fetch_cli.rs`.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use patchlens_eval::weights::{self, FetchError, FetchOptions, FetchSpec, Verified};
use sha2::{Digest, Sha256};
use support::http_server::{Route, Seen, Server, route};

/// Deterministic pseudo-random bytes (xorshift).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn spec(name: &str, url: String, sha256: Option<String>, prefix: Option<&str>) -> FetchSpec {
    FetchSpec {
        name: name.into(),
        url,
        sha256,
        sha256_prefix: prefix.map(str::to_string),
    }
}

fn opts(dir: &Path, retries: u32, convert: bool) -> FetchOptions {
    FetchOptions {
        cache_dir: dir.to_path_buf(),
        force: false,
        convert,
        retries,
        progress: false,
    }
}

#[test]
fn a_cut_transfer_resumes_with_a_range_request_and_verifies_the_sha256() {
    let body = bytes(300_000, 7);
    let srv = Server::start(BTreeMap::from([(
        "/w/model.pth".into(),
        Route {
            cut: Some((1, 100_000)),
            ..route(body.clone())
        },
    )]));
    let dir = tempfile::tempdir().unwrap();
    let s = spec(
        "dinov2_vits14",
        srv.url("/w/model.pth"),
        Some(sha_hex(&body)),
        None,
    );
    // No automatic retry: the first call fails and keeps what arrived in the .part file.
    let e = weights::fetch(&s, &opts(dir.path(), 0, false)).unwrap_err();
    assert!(matches!(e, FetchError::Interrupted { .. }), "{e}");
    let original = weights::original_path(dir.path(), &s);
    assert_eq!(original, dir.path().join("original/dinov2_vits14.pth"));
    let part = weights::part_path(&original);
    assert_eq!(
        std::fs::read(&part).unwrap(),
        body[..100_000],
        "the part file holds exactly the bytes sent"
    );
    assert!(
        !original.exists(),
        "nothing is renamed into place before verification"
    );
    // The second call continues from byte 100000.
    let f = weights::fetch(&s, &opts(dir.path(), 0, false)).unwrap();
    assert_eq!(f.resumed_from, 100_000);
    assert_eq!(f.verified, Verified::Sha256);
    assert!(f.downloaded);
    assert_eq!(std::fs::read(&original).unwrap(), body);
    assert!(!part.exists());
    assert_eq!(
        srv.seen(),
        vec![
            Seen {
                path: "/w/model.pth".into(),
                range: None
            },
            Seen {
                path: "/w/model.pth".into(),
                range: Some("bytes=100000-".into())
            },
        ]
    );
    // Recorded; a third call reuses the verified file without any request.
    let rec = weights::read_checksums(dir.path()).unwrap();
    assert_eq!(rec["dinov2_vits14"].sha256, sha_hex(&body));
    assert_eq!(rec["dinov2_vits14"].size, 300_000);
    let f = weights::fetch(&s, &opts(dir.path(), 0, false)).unwrap();
    assert!(!f.downloaded);
    assert_eq!(srv.seen().len(), 2);
}

#[test]
fn automatic_retries_resume_within_one_call_and_a_server_without_ranges_restarts() {
    let body = bytes(200_000, 11);
    let srv = Server::start(BTreeMap::from([
        (
            "/a.bin".into(),
            Route {
                cut: Some((2, 50_000)),
                ..route(body.clone())
            },
        ),
        (
            "/b.bin".into(),
            Route {
                cut: Some((1, 70_000)),
                no_range: true,
                ..route(body.clone())
            },
        ),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let a = spec("a", srv.url("/a.bin"), Some(sha_hex(&body)), None);
    let f = weights::fetch(&a, &opts(dir.path(), 3, false)).unwrap();
    assert_eq!(std::fs::read(&f.original).unwrap(), body);
    let ranges: Vec<_> = srv
        .seen()
        .into_iter()
        .filter(|s| s.path == "/a.bin")
        .map(|s| s.range)
        .collect();
    assert_eq!(
        ranges,
        vec![
            None,
            Some("bytes=50000-".into()),
            Some("bytes=100000-".into())
        ]
    );
    // A server that answers 200 to a range request: the part file is started over, the result is still exact.
    let b = spec("b", srv.url("/b.bin"), Some(sha_hex(&body)), None);
    let f = weights::fetch(&b, &opts(dir.path(), 1, false)).unwrap();
    assert_eq!(std::fs::read(&f.original).unwrap(), body);
    let ranges: Vec<_> = srv
        .seen()
        .into_iter()
        .filter(|s| s.path == "/b.bin")
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges, vec![None, Some("bytes=70000-".into())]);
}

#[test]
fn a_wrong_checksum_is_refused_and_the_download_deleted() {
    let body = bytes(10_000, 3);
    let srv = Server::start(BTreeMap::from([("/m.pth".into(), route(body.clone()))]));
    let dir = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let s = spec("m", srv.url("/m.pth"), Some(wrong.clone()), None);
    let e = weights::fetch(&s, &opts(dir.path(), 0, false)).unwrap_err();
    match &e {
        FetchError::Checksum {
            expected,
            actual,
            kind,
            ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha_hex(&body));
            assert_eq!(*kind, "sha256");
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains(&wrong) && msg.contains(&sha_hex(&body)),
        "{msg}"
    );
    let original = weights::original_path(dir.path(), &s);
    assert!(!original.exists() && !weights::part_path(&original).exists());
    assert!(
        weights::read_checksums(dir.path()).unwrap().is_empty(),
        "nothing recorded"
    );
    // torchvision-style prefix: wrong prefix refused, right prefix accepted.
    let bad = spec("tv", srv.url("/m.pth"), None, Some("c867db91"));
    let e = weights::fetch(&bad, &opts(dir.path(), 0, false)).unwrap_err();
    assert!(
        matches!(
            &e,
            FetchError::Checksum {
                kind: "sha256 prefix",
                ..
            }
        ),
        "{e}"
    );
    let good = spec("tv", srv.url("/m.pth"), None, Some(&sha_hex(&body)[..8]));
    assert_eq!(
        weights::fetch(&good, &opts(dir.path(), 0, false))
            .unwrap()
            .verified,
        Verified::Prefix
    );
}

#[test]
fn not_found_is_a_clear_error() {
    let srv = Server::start(BTreeMap::new());
    let dir = tempfile::tempdir().unwrap();
    let s = spec("m", srv.url("/missing.pth"), None, None);
    let e = weights::fetch(&s, &opts(dir.path(), 3, false)).unwrap_err();
    assert!(
        matches!(e, FetchError::HttpStatus { status: 404, .. }),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("404") && msg.contains("/missing.pth") && msg.contains("not found"),
        "{msg}"
    );
    assert_eq!(srv.seen().len(), 1, "a 404 is not retried");
    // Unsupported scheme.
    let e = weights::fetch(
        &spec("m", "ftp://x/y.pth".into(), None, None),
        &opts(dir.path(), 0, false),
    )
    .unwrap_err();
    assert!(matches!(e, FetchError::BadUrl { .. }), "{e}");
}

#[test]
fn trust_on_first_use_records_and_checks_later_downloads() {
    let (v1, v2) = (bytes(5_000, 1), bytes(5_000, 2));
    let srv = Server::start(BTreeMap::from([("/x.pth".into(), route(v1.clone()))]));
    let dir = tempfile::tempdir().unwrap();
    let s = spec("x", srv.url("/x.pth"), None, None);
    let f = weights::fetch(&s, &opts(dir.path(), 0, false)).unwrap();
    assert_eq!(f.verified, Verified::FirstUse);
    let text = std::fs::read_to_string(dir.path().join("checksums.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["x"]["sha256"], sha_hex(&v1));
    assert_eq!(json["x"]["url"], srv.url("/x.pth"));
    // Cached: checked against the record.
    assert_eq!(
        weights::fetch(&s, &opts(dir.path(), 0, false))
            .unwrap()
            .verified,
        Verified::Recorded
    );
    // Forced download of a file that changed upstream: refused, record kept.
    srv.routes
        .lock()
        .unwrap()
        .insert("/x.pth".into(), route(v2));
    let mut o = opts(dir.path(), 0, false);
    o.force = true;
    let e = weights::fetch(&s, &o).unwrap_err();
    assert!(
        matches!(
            &e,
            FetchError::Checksum {
                kind: "sha256 recorded in checksums.json",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("checksums.json"));
    assert_eq!(
        weights::read_checksums(dir.path()).unwrap()["x"].sha256,
        sha_hex(&v1)
    );
    // The original comes back with the right bytes.
    srv.routes
        .lock()
        .unwrap()
        .insert("/x.pth".into(), route(v1.clone()));
    let f = weights::fetch(&s, &o).unwrap();
    assert_eq!(f.verified, Verified::Recorded);
    assert_eq!(std::fs::read(&f.original).unwrap(), v1);
}

#[test]
fn converts_a_pth_checkpoint_once_keeping_the_official_names() {
    use patchlens_vit::checkpoint::Checkpoint;
    let pth = std::fs::read(patchlens_testutil::fixture("vit/dinov2_s14_tiny.pth")).unwrap();
    let srv = Server::start(BTreeMap::from([(
        "/dinov2_vits14_pretrain.pth".into(),
        route(pth.clone()),
    )]));
    let dir = tempfile::tempdir().unwrap();
    let s = spec(
        "dinov2_vits14",
        srv.url("/dinov2_vits14_pretrain.pth"),
        None,
        None,
    );
    let f = weights::fetch(&s, &opts(dir.path(), 0, true)).unwrap();
    let conv = f.converted.clone().unwrap();
    assert_eq!(conv, dir.path().join("dinov2_vits14.safetensors"));
    assert!(!f.conversion_reused);
    // Every tensor of the original, same name, same shape, same values, as float32 (read back with the
    // safetensors crate; the original through the .pth reader).
    let orig = Checkpoint::open(&f.original).unwrap();
    let data = std::fs::read(&conv).unwrap();
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, orig.tensors.keys().cloned().collect::<Vec<_>>());
    assert!(
        names.contains(&"blocks.0.attn.qkv.weight".to_string())
            && names.contains(&"pos_embed".to_string())
    );
    for n in &names {
        let t = st.tensor(n).unwrap();
        assert_eq!(t.dtype(), safetensors::Dtype::F32);
        assert_eq!(t.shape(), orig.tensors[n].shape.as_slice(), "{n}");
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(v, orig.read_f32(n).unwrap(), "{n}");
    }
    let (_, meta) = safetensors::SafeTensors::read_metadata(&data).unwrap();
    assert_eq!(
        meta.metadata().as_ref().unwrap()["source_sha256"],
        sha_hex(&pth)
    );
    // The converted file loads as the backbone (fixtures/vit/manifest.json config).
    let mut c = patchlens_vit::zoo::lookup("dinov2_vits14")
        .unwrap()
        .config
        .clone();
    (c.embed_dim, c.depth, c.num_heads, c.mlp_hidden, c.img_size) = (32, 4, 2, 128, 70);
    patchlens_vit::load_backbone(
        &conv,
        patchlens_vit::Family::Dinov2,
        c,
        None,
        &patchlens_vit::Device::flex(),
    )
    .unwrap();
    // Second call: nothing downloaded, conversion reused (file untouched).
    let mtime = std::fs::metadata(&conv).unwrap().modified().unwrap();
    let f2 = weights::fetch(&s, &opts(dir.path(), 0, true)).unwrap();
    assert!(!f2.downloaded && f2.conversion_reused);
    assert_eq!(std::fs::metadata(&conv).unwrap().modified().unwrap(), mtime);
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn conversion_widens_half_precision_and_skips_integers() {
    use safetensors::{Dtype, tensor::TensorView};
    let dir = tempfile::tempdir().unwrap();
    // 1.5, −2, 0.25, 1024 as IEEE half (sign|5-bit exponent|10-bit fraction) and bfloat16 (the f32's upper
    // 16 bits), encoded by hand.
    let vals = [1.5f32, -2.0, 0.25, 1024.0];
    let f16: Vec<u8> = [0x3E00u16, 0xC000, 0x3400, 0x6400]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bf16: Vec<u8> = [0x3FC0u16, 0xC000, 0x3E80, 0x4480]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let i64s: Vec<u8> = [7i64, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
    let src = dir.path().join("in.safetensors");
    safetensors::serialize_to_file(
        vec![
            (
                "a.half".to_string(),
                TensorView::new(Dtype::F16, vec![2, 2], &f16).unwrap(),
            ),
            (
                "b.bf16".to_string(),
                TensorView::new(Dtype::BF16, vec![4], &bf16).unwrap(),
            ),
            (
                "step".to_string(),
                TensorView::new(Dtype::I64, vec![2], &i64s).unwrap(),
            ),
        ],
        None,
        &src,
    )
    .unwrap();
    let dst = dir.path().join("out.safetensors");
    let r = weights::convert_to_safetensors(
        "t",
        &src,
        &dst,
        &BTreeMap::from([("k".into(), "v".into())]),
    )
    .unwrap();
    assert_eq!(r.tensors, 2);
    assert_eq!(r.skipped, vec!["step".to_string()]);
    let data = std::fs::read(&dst).unwrap();
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    let read = |n: &str| -> Vec<f32> {
        st.tensor(n)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    assert_eq!(read("a.half"), vals);
    assert_eq!(read("b.bf16"), vals);
    assert_eq!(st.tensor("a.half").unwrap().shape(), [2, 2]);
    assert!(st.tensor("step").is_err());
    let (_, meta) = safetensors::SafeTensors::read_metadata(&data).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["k"], "v");
    assert_eq!(meta["skipped_non_float"], "step");
    // A file that is not a checkpoint: a clear error naming it.
    std::fs::write(dir.path().join("junk.bin"), b"definitely not a checkpoint").unwrap();
    let e =
        weights::convert_to_safetensors("t", &dir.path().join("junk.bin"), &dst, &BTreeMap::new())
            .unwrap_err();
    assert!(e.to_string().contains("junk.bin"), "{e}");
}

#[test]
fn zoo_specs_urls_and_overrides() {
    let o = weights::parse_overrides(&["sup_vitb16_torchvision=http://127.0.0.1:1/v.pth".into()])
        .unwrap();
    let s = FetchSpec::from_zoo("sup_vitb16_torchvision", &o).unwrap();
    assert_eq!(s.url, "http://127.0.0.1:1/v.pth");
    // torchvision names the file by its hash prefix (vit_b_16-c867db91.pth).
    assert_eq!(s.sha256_prefix.as_deref(), Some("c867db91"));
    let z = FetchSpec::from_zoo("dino_vitb16", &BTreeMap::new()).unwrap();
    assert!(z.url.ends_with("dino_vitbase16_pretrain.pth"));
    assert_eq!(z.extension(), "pth");
    assert_eq!(
        spec(
            "x",
            "https://h/a/model.safetensors?download=1".into(),
            None,
            None
        )
        .extension(),
        "safetensors"
    );
    assert_eq!(
        spec("x", "https://h/a/noext".into(), None, None).extension(),
        "bin"
    );
    assert!(matches!(
        FetchSpec::from_zoo("no_such_model", &BTreeMap::new()),
        Err(FetchError::UnknownModel { .. })
    ));
    assert!(weights::parse_overrides(&["just-a-url".into()]).is_err());
    assert_eq!(
        weights::url_env_var("dinov2_vits14"),
        "PATCHLENS_WEIGHTS_URL_DINOV2_VITS14"
    );
    assert_eq!(
        weights::parse_content_range("bytes 100-199/200"),
        Some((Some((100, 199)), Some(200)))
    );
    assert_eq!(
        weights::parse_content_range("bytes */200"),
        Some((None, Some(200)))
    );
    assert_eq!(weights::parse_content_range("items 1-2/3"), None);
}
