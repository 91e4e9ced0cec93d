//! Bad checkpoints give clear errors naming the file, the key and the values — never a panic or a
//! silent partial load. Each case is made by editing a valid fixture checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_vit::{Device, Family, VitConfig, VitError, load_backbone};
use safetensors::Dtype;

struct Case {
    cfg: VitConfig,
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
}

fn timm_case() -> Case {
    let dir = patchlens_testutil::fixture("vit");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let case = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sup_timm_b16_augreg_tiny")
        .unwrap();
    let cfg: VitConfig = serde_json::from_value(case["config"].clone()).unwrap();
    let bytes = std::fs::read(dir.join("sup_timm_b16_augreg_tiny.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    Case { cfg, tensors }
}

fn write(
    dir: &Path,
    name: &str,
    tensors: &BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
) -> PathBuf {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(k, (dt, shape, data))| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*dt, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

fn load(path: &Path, cfg: &VitConfig) -> Result<(), VitError> {
    load_backbone(path, Family::SupTimm, cfg.clone(), None, &Device::flex()).map(|_| ())
}

#[test]
fn the_unmodified_file_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let c = timm_case();
    load(&write(tmp.path(), "ok.safetensors", &c.tensors), &c.cfg).unwrap();
}

#[test]
fn missing_keys_are_all_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = timm_case();
    c.tensors.remove("blocks.1.mlp.fc2.bias");
    c.tensors.remove("norm.weight");
    let p = write(tmp.path(), "missing.safetensors", &c.tensors);
    let e = load(&p, &c.cfg).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, VitError::MissingKeys { .. }), "{msg}");
    assert!(
        msg.contains("missing.safetensors")
            && msg.contains("blocks.1.mlp.fc2.bias")
            && msg.contains("norm.weight"),
        "{msg}"
    );
}

#[test]
fn unexpected_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = timm_case();
    let v = c.tensors["norm.bias"].clone();
    c.tensors.insert("blocks.0.attn.extra_thing".into(), v);
    let p = write(tmp.path(), "unexpected.safetensors", &c.tensors);
    let e = load(&p, &c.cfg).unwrap_err();
    assert!(matches!(e, VitError::UnexpectedKeys { .. }), "{e}");
    assert!(e.to_string().contains("blocks.0.attn.extra_thing"), "{e}");
}

#[test]
fn wrong_shape_names_key_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = timm_case();
    let (dt, shape, data) = c.tensors["blocks.2.mlp.fc1.weight"].clone();
    assert_eq!(shape, vec![128, 32]);
    c.tensors
        .insert("blocks.2.mlp.fc1.weight".into(), (dt, vec![64, 64], data));
    let p = write(tmp.path(), "shape.safetensors", &c.tensors);
    let e = load(&p, &c.cfg).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, VitError::Shape { .. }), "{msg}");
    assert!(
        msg.contains("blocks.2.mlp.fc1.weight")
            && msg.contains("[128, 32]")
            && msg.contains("[64, 64]"),
        "{msg}"
    );
}

#[test]
fn integer_weights_are_refused_with_their_dtype() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = timm_case();
    let (_, shape, data) = c.tensors["blocks.0.norm1.weight"].clone();
    c.tensors
        .insert("blocks.0.norm1.weight".into(), (Dtype::I32, shape, data));
    let p = write(tmp.path(), "dtype.safetensors", &c.tensors);
    let e = load(&p, &c.cfg).unwrap_err();
    assert!(matches!(e, VitError::DType { .. }), "{e}");
    assert!(
        e.to_string().contains("blocks.0.norm1.weight") && e.to_string().contains("int32"),
        "{e}"
    );
}

#[test]
fn nan_and_inf_weights_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = timm_case();
    let (dt, shape, mut data) = c.tensors["blocks.1.attn.proj.weight"].clone();
    data[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    data[40..44].copy_from_slice(&f32::INFINITY.to_le_bytes());
    c.tensors
        .insert("blocks.1.attn.proj.weight".into(), (dt, shape, data));
    let p = write(tmp.path(), "nan.safetensors", &c.tensors);
    match load(&p, &c.cfg).unwrap_err() {
        VitError::NonFinite {
            key, count, first, ..
        } => {
            assert_eq!(
                (key.as_str(), count, first),
                ("blocks.1.attn.proj.weight", 2, 2)
            );
        }
        e => panic!("expected NonFinite, got {e}"),
    }
}

#[test]
fn half_precision_weights_are_converted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = timm_case();
    for (dt, _, data) in c.tensors.values_mut() {
        let f: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        *data = f
            .iter()
            .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
            .collect();
        *dt = Dtype::BF16;
    }
    load(&write(tmp.path(), "bf16.safetensors", &c.tensors), &c.cfg).unwrap();
}

#[test]
fn truncated_and_corrupt_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let c = timm_case();
    let good = std::fs::read(write(tmp.path(), "good.safetensors", &c.tensors)).unwrap();
    // Truncated safetensors.
    let p = tmp.path().join("trunc.safetensors");
    std::fs::write(&p, &good[..good.len() / 2]).unwrap();
    let e = load(&p, &c.cfg).unwrap_err();
    assert!(
        matches!(e, VitError::Read { .. }) && e.to_string().contains("trunc.safetensors"),
        "{e}"
    );
    // Truncated .pth (zip).
    let pth = std::fs::read(patchlens_testutil::fixture("vit/dino_s16_tiny.pth")).unwrap();
    let p = tmp.path().join("trunc.pth");
    std::fs::write(&p, &pth[..pth.len() * 2 / 3]).unwrap();
    let e = load_backbone(&p, Family::Dino, c.cfg.clone(), None, &Device::flex()).unwrap_err();
    assert!(
        matches!(e, VitError::Read { .. }) && e.to_string().contains("trunc.pth"),
        "{e}"
    );
    // A .pth whose tensor bytes were flipped: the zip CRC catches it when the tensor is read.
    let mut bad = pth.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 4096] {
        *b ^= 0x5a;
    }
    let p = tmp.path().join("flipped.pth");
    std::fs::write(&p, &bad).unwrap();
    let e = load_backbone(&p, Family::Dino, dino_config(), None, &Device::flex()).unwrap_err();
    assert!(
        matches!(e, VitError::Read { .. }) && e.to_string().contains("flipped.pth"),
        "{e}"
    );
    // Flip bytes INSIDE a tensor's storage (headers intact): the zip CRC-32 check must catch it.
    let mut bad = pth.clone();
    let name = b"dino_s16_tiny/data/2";
    let at = bad
        .windows(name.len())
        .position(|w| w == name)
        .expect("local header of storage 2");
    let header = at - 30; // local file header: 30 fixed bytes, then the name, then the extra field
    assert_eq!(&bad[header..header + 4], b"PK\x03\x04");
    let name_len = u16::from_le_bytes([bad[header + 26], bad[header + 27]]) as usize;
    let extra_len = u16::from_le_bytes([bad[header + 28], bad[header + 29]]) as usize;
    let data = header + 30 + name_len + extra_len;
    for b in &mut bad[data + 100..data + 108] {
        *b ^= 0xff;
    }
    let p = tmp.path().join("crc.pth");
    std::fs::write(&p, &bad).unwrap();
    let e = load_backbone(&p, Family::Dino, dino_config(), None, &Device::flex()).unwrap_err();
    assert!(
        matches!(e, VitError::Read { .. }) && e.to_string().contains("crc.pth"),
        "{e}"
    );
    // Garbage.
    let p = tmp.path().join("garbage.bin");
    std::fs::write(&p, b"this is not a checkpoint at all").unwrap();
    let e = load(&p, &c.cfg).unwrap_err();
    assert!(e.to_string().contains("garbage.bin"), "{e}");
    // Wrong family: no anchor key.
    let e = load_backbone(
        &tmp.path().join("good.safetensors"),
        Family::SupTorchvision,
        c.cfg.clone(),
        None,
        &Device::flex(),
    )
    .unwrap_err();
    assert!(matches!(e, VitError::NoBackbone { .. }), "{e}");
}

#[test]
fn training_checkpoint_parts_are_selectable() {
    let dir = patchlens_testutil::fixture("vit");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let case = m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dino_s8_train_ckpt_tiny")
        .unwrap();
    let cfg: VitConfig = serde_json::from_value(case["config"].clone()).unwrap();
    let p = dir.join("dino_s8_train_ckpt_tiny.pth");
    let (_, r) = load_backbone(
        &p,
        Family::Dino,
        cfg.clone(),
        Some("student"),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(r.prefix, "student.module.backbone.");
    let (_, r) = load_backbone(&p, Family::Dino, cfg.clone(), None, &Device::flex()).unwrap();
    assert_eq!(r.prefix, "teacher.backbone.");
    let e = load_backbone(&p, Family::Dino, cfg, Some("ema"), &Device::flex()).unwrap_err();
    assert!(matches!(e, VitError::AmbiguousBackbone { .. }), "{e}");
}

/// The architecture of the `dino_s16_tiny` fixture.
fn dino_config() -> VitConfig {
    let dir = patchlens_testutil::fixture("vit");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    serde_json::from_value(m["cases"][0]["config"].clone()).unwrap()
}

#[test]
fn io_error_prints_each_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("absent.safetensors");
    let os = std::fs::File::open(&missing).unwrap_err().to_string();
    let e =
        load_backbone(&missing, Family::Dino, dino_config(), None, &Device::flex()).unwrap_err();
    assert!(matches!(e, VitError::Io { .. }), "{e:?}");
    assert_eq!(
        patchlens_testutil::error_chain(&e),
        [format!("I/O error on {}", missing.display()), os]
    );
    patchlens_testutil::assert_each_cause_once(&e, 2);
}
