//! Exported checkpoints carry each family's official key names and read back through the normal
//! loader (`patchlens_vit::load_backbone`) to a model whose tokens equal the in-memory model's.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use patchlens_pretrain::export::{ExportDtype, TrainedNet, export};
use patchlens_pretrain::init::{Init, init_vit_model};
use patchlens_pretrain::objectives::dino::{DinoHead, DinoNet};
use patchlens_pretrain::objectives::mae::MaeNet;
use patchlens_pretrain::objectives::simmim::SimmimNet;
use patchlens_pretrain::objectives::supervised::SupervisedNet;
use patchlens_pretrain::{Method, presets};
use patchlens_vit::Vit;

fn net(method: Method, device: &Device) -> TrainedNet {
    let preset = presets::micro();
    let cfg = preset.vit_config(method).validated().unwrap();
    let mut init = Init::new(3);
    let backbone = init_vit_model(&cfg, method == Method::Mae, 9, device).unwrap();
    match method {
        Method::Supervised => {
            TrainedNet::Supervised(SupervisedNet::new(backbone, &cfg, 9, &mut init, device))
        }
        Method::Dino => {
            let head = DinoHead::new(&mut init, cfg.embed_dim, 16, 8, 32, device);
            let student = DinoNet { backbone, head };
            let teacher_backbone = init_vit_model(&cfg, false, 10, device).unwrap();
            let head = DinoHead::new(&mut init, cfg.embed_dim, 16, 8, 32, device);
            TrainedNet::Dino {
                teacher: Box::new(DinoNet {
                    backbone: teacher_backbone,
                    head,
                }),
                student: Box::new(student),
            }
        }
        Method::Mae => {
            TrainedNet::Mae(MaeNet::new(backbone, &cfg, 16, 1, 2, &mut init, device).unwrap())
        }
        Method::Simmim => TrainedNet::Simmim(SimmimNet::new(backbone, &cfg, &mut init, device)),
    }
}

fn tokens(vit: &Vit, x: Tensor<4>) -> Vec<f32> {
    let depth = vit.config.depth;
    let out = vit.forward_layers(x, &[1, depth]).unwrap();
    let mut v = Vec::new();
    for l in out.layers {
        v.extend(l.patches.into_data().try_to_vec::<f32>().unwrap());
        v.extend(l.cls.unwrap().into_data().try_to_vec::<f32>().unwrap());
    }
    v
}

fn keys(path: &std::path::Path) -> BTreeMap<String, Vec<usize>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| (k, v.shape().to_vec()))
        .collect()
}

#[test]
fn every_family_round_trips_through_the_official_loader() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let preset = presets::micro();
    let mut init = Init::new(1);
    let x = Tensor::<4>::from_data(
        TensorData::new(init.uniform(2 * 3 * 32 * 32, 2.0), [2, 3, 32, 32]),
        &device,
    );
    for method in Method::ALL {
        let cfg = preset.vit_config(method).validated().unwrap();
        let n = net(method, &device);
        let path = dir.path().join(format!("{method}.safetensors"));
        export(&n, &cfg, &path, ExportDtype::F32, &[]).unwrap();
        let (loaded, report) =
            patchlens_vit::load_backbone(&path, method.family(), cfg.clone(), None, &device)
                .unwrap();
        let mem = Vit::new(n.backbone().clone(), cfg.clone(), device.clone());
        let a = tokens(&mem, x.clone());
        let b = tokens(&loaded, x.clone());
        let diff = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff == 0.0,
            "{method}: exported + reloaded tokens differ by {diff}"
        );

        let k = keys(&path);
        let d = cfg.embed_dim;
        match method {
            Method::Supervised => {
                assert_eq!(report.prefix, "");
                assert_eq!(k["head.weight"], vec![9, d]);
                assert_eq!(k["blocks.0.attn.qkv.bias"], vec![3 * d]);
                assert_eq!(k["patch_embed.proj.weight"], vec![d, 3, 8, 8]);
                assert_eq!(k["pos_embed"], vec![1, 17, d]);
                assert!(report.ignored.iter().any(|s| s == "head.weight"));
            }
            Method::Dino => {
                assert_eq!(report.prefix, "");
                assert!(!k.keys().any(|s| s.starts_with("head")));
                assert_eq!(k["cls_token"], vec![1, 1, d]);
                assert_eq!(k["blocks.1.mlp.fc2.weight"], vec![d, 4 * d]);
            }
            Method::Mae => {
                assert_eq!(report.prefix, "model.");
                assert!(k.keys().all(|s| s.starts_with("model.")));
                assert_eq!(k["model.pos_embed"], vec![1, 17, d]);
            }
            Method::Simmim => {
                assert_eq!(report.prefix, "model.encoder.");
                assert_eq!(k["model.encoder.blocks.0.gamma_1"], vec![d]);
                assert_eq!(k["model.encoder.blocks.0.attn.q_bias"], vec![d]);
                assert!(!k.contains_key("model.encoder.blocks.0.attn.qkv.bias"));
                assert_eq!(
                    k["model.encoder.rel_pos_bias.relative_position_bias_table"],
                    vec![7 * 7 + 3, 2]
                );
                assert_eq!(
                    k["model.encoder.rel_pos_bias.relative_position_index"],
                    vec![17, 17]
                );
                assert_eq!(k["model.encoder.mask_token"], vec![1, 1, d]);
                assert_eq!(k["model.decoder.0.weight"], vec![3 * 64, d, 1, 1]);
                assert!(!k.contains_key("model.encoder.pos_embed"));
            }
        }
    }
}

#[test]
fn dino_exports_the_teacher_not_the_student() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = presets::micro()
        .vit_config(Method::Dino)
        .validated()
        .unwrap();
    let n = net(Method::Dino, &device);
    let path = dir.path().join("dino.safetensors");
    export(&n, &cfg, &path, ExportDtype::F32, &[]).unwrap();
    let (loaded, _) = patchlens_vit::load_backbone(
        &path,
        patchlens_vit::Family::Dino,
        cfg.clone(),
        None,
        &device,
    )
    .unwrap();
    let TrainedNet::Dino { teacher, student } = &n else {
        unreachable!()
    };
    let x = Tensor::<4>::ones([1, 3, 32, 32], &device);
    let t = tokens(
        &Vit::new(teacher.backbone.clone(), cfg.clone(), device.clone()),
        x.clone(),
    );
    let s = tokens(
        &Vit::new(student.backbone.clone(), cfg.clone(), device.clone()),
        x.clone(),
    );
    let l = tokens(&loaded, x);
    assert_eq!(l, t);
    assert_ne!(l, s);
}

#[test]
fn half_precision_export_is_close_and_half_the_size() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = presets::micro()
        .vit_config(Method::Mae)
        .validated()
        .unwrap();
    let n = net(Method::Mae, &device);
    let p32 = dir.path().join("a.safetensors");
    let p16 = dir.path().join("b.safetensors");
    export(&n, &cfg, &p32, ExportDtype::F32, &[]).unwrap();
    export(&n, &cfg, &p16, ExportDtype::F16, &[]).unwrap();
    let s32 = std::fs::metadata(&p32).unwrap().len() as f64;
    let s16 = std::fs::metadata(&p16).unwrap().len() as f64;
    assert!(s16 < 0.55 * s32, "{s16} vs {s32}");
    let (a, _) =
        patchlens_vit::load_backbone(&p32, patchlens_vit::Family::Mae, cfg.clone(), None, &device)
            .unwrap();
    let (b, _) =
        patchlens_vit::load_backbone(&p16, patchlens_vit::Family::Mae, cfg.clone(), None, &device)
            .unwrap();
    let x = Tensor::<4>::ones([1, 3, 32, 32], &device);
    let ta = tokens(&a, x.clone());
    let tb = tokens(&b, x);
    let diff = ta
        .iter()
        .zip(&tb)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    // f16 has an 11-bit significand: relative rounding 2^-11 ≈ 5e-4 per weight; LayerNormed tokens are O(1).
    assert!(diff > 0.0 && diff < 0.05, "{diff}");
}

#[test]
fn wrong_extension_is_an_error_naming_the_path() {
    let device = Device::flex();
    let cfg = presets::micro()
        .vit_config(Method::Dino)
        .validated()
        .unwrap();
    let n = net(Method::Dino, &device);
    let e = export(
        &n,
        &cfg,
        std::path::Path::new("/tmp/x.pth"),
        ExportDtype::F32,
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/tmp/x.pth"), "{e}");
}

#[test]
fn identical_exports_are_byte_identical_and_leave_no_temporary_file() {
    // Many metadata keys make a hash-ordered header differ between writes with near certainty.
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = presets::micro()
        .vit_config(Method::Supervised)
        .validated()
        .unwrap();
    let n = net(Method::Supervised, &device);
    let extra: Vec<(String, String)> = (0..24)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    export(&n, &cfg, &a, ExportDtype::F16, &extra).unwrap();
    export(&n, &cfg, &b, ExportDtype::F16, &extra).unwrap();
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb);
    // The header is sorted JSON padded to 8 bytes, and the file still parses with its metadata.
    let n_header = u64::from_le_bytes(ba[..8].try_into().unwrap()) as usize;
    assert_eq!(n_header % 8, 0);
    let header = std::str::from_utf8(&ba[8..8 + n_header])
        .unwrap()
        .trim_end();
    let meta_pos = header.find("\"__metadata__\"").unwrap();
    let k0 = header[meta_pos..].find("\"patchlens.k0\"").unwrap();
    let k1 = header[meta_pos..].find("\"patchlens.k1\"").unwrap();
    let k10 = header[meta_pos..].find("\"patchlens.k10\"").unwrap();
    assert!(k0 < k1 && k1 < k10, "metadata keys not sorted: {header}");
    let (_, meta) = safetensors::SafeTensors::read_metadata(&ba).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["patchlens.k7"], "v7");
    assert_eq!(keys(&a).len(), keys(&b).len());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn mae_decoder_export_reads_back_through_the_official_mae_decoder() {
    use patchlens_pretrain::export::{mae_decoder_path, mae_decoder_tensors, write_safetensors};
    use patchlens_pretrain::objectives::mae::{MaeMask as TrainMask, random_mask};
    use patchlens_vit::mae::{Mae, MaeDecoderConfig, MaeMask};
    use rand::SeedableRng;

    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = presets::micro()
        .vit_config(Method::Mae)
        .validated()
        .unwrap();
    let n = net(Method::Mae, &device);
    let enc = dir.path().join("m.safetensors");
    export(&n, &cfg, &enc, ExportDtype::F32, &[]).unwrap();
    let dec_path = mae_decoder_path(&enc);
    assert_eq!(dec_path, dir.path().join("m_decoder.safetensors"));
    let TrainedNet::Mae(mae_net) = &n else {
        unreachable!()
    };
    let tensors = mae_decoder_tensors(&mae_net.decoder, &cfg).unwrap();
    write_safetensors(&dec_path, &tensors, ExportDtype::F32, Default::default()).unwrap();
    let k = keys(&dec_path);
    let p = cfg.patch_size;
    assert_eq!(k["model.decoder_pred.weight"], vec![3 * p * p, 16]);
    assert_eq!(k["model.mask_token"], vec![1, 1, 16]);
    assert!(k.contains_key("model.decoder_blocks.0.attn.qkv.bias"));

    let dcfg = MaeDecoderConfig {
        dim: 16,
        depth: 1,
        heads: 2,
        mlp_ratio: 4.0,
        norm_pix_loss: true,
    };
    let mae = Mae::load(&enc, Some(&dec_path), cfg.clone(), dcfg, &device).unwrap();
    let side = cfg.img_size;
    let n_patches = (side / p) * (side / p);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let train_masks: Vec<TrainMask> = (0..2)
        .map(|_| random_mask(&mut rng, n_patches, 0.75).unwrap())
        .collect();
    let masks: Vec<MaeMask> = train_masks
        .iter()
        .map(|m| MaeMask::from_keep(&m.keep, n_patches).unwrap())
        .collect();
    // Same mask and same positions of the kept patches (the removed ones may be ordered differently:
    // their tokens are all the mask token).
    for (a, b) in train_masks.iter().zip(&masks) {
        assert_eq!(a.mask, b.mask);
        for &j in &a.keep {
            assert_eq!(a.restore[j], b.restore[j]);
        }
    }
    let v: Vec<f32> = (0..2 * 3 * side * side)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(v, [2, 3, side, side]), &device);
    // The pretrainer orders a patch's pixels (c, y, x); MAE's patchify (y, x, c).
    let ours = mae_net
        .predict(&cfg, x.clone(), &train_masks)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let official = mae
        .decode(mae.encode(x.clone(), &masks).unwrap(), &masks)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let pp = 3 * p * p;
    let mut diff = 0f32;
    for (row, off) in ours.chunks(pp).zip(official.chunks(pp)) {
        for c in 0..3 {
            for yx in 0..p * p {
                diff = diff.max((row[c * p * p + yx] - off[yx * 3 + c]).abs());
            }
        }
    }
    assert!(diff < 1e-5, "prediction max |Δ| {diff}");
    let l_train: f32 = mae_net
        .loss(&cfg, x.clone(), &train_masks, true)
        .unwrap()
        .into_scalar();
    let pred = mae
        .decode(mae.encode(x.clone(), &masks).unwrap(), &masks)
        .unwrap();
    let l_official = mae.loss(pred, x, &masks).unwrap();
    assert!(
        (l_train - l_official).abs() < 1e-5,
        "{l_train} vs {l_official}"
    );
}
