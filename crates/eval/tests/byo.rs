//! Bring your own model, dataset and features, checked on the shared real assets:
//!
//! 1. a model file naming the shared DINOv2-S/14 weights under another name gives the zoo model's tokens
//!    (bit for bit), and with the size-form grid rule it reproduces the onnxruntime reference (≤ 1e-4);
//!    its mean / std reach the image path;
//! 2. CamVid-mini written in the generic folder layout (void 11 → 255) gives exactly the mIoU, pixel
//!    accuracy and per-class IoU of the CamVid reader under the same protocol (1-NN);
//! 3. features exported in the feature-folder layout and read back instead of the backbone give exactly
//!    the backbone run's scores.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use patchlens_eval::segmentation::{self, SegSource, SegmentationConfig};
use patchlens_eval::{FeatureDir, ModelRegistry, ModelSource, ModelSpec, ModelTokens, TokenSource};
use patchlens_vit::{Device, Tensor, TensorData};

fn dinov2() -> Option<std::path::PathBuf> {
    patchlens_testutil::shared_asset("weights/dinov2_vits14_imgfocus.safetensors")
}

fn final_tokens(spec: &ModelSpec, w: &Path, input: &[f32]) -> Vec<f32> {
    let m = spec
        .load(
            &ModelSource::Weights {
                path: w.to_path_buf(),
                part: None,
            },
            &Device::flex(),
        )
        .unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(input.to_vec(), [1, 3, 224, 224]),
        m.device(),
    );
    let out = m.vit.forward_layers(x, &[12]).unwrap();
    out.layers[0]
        .patches
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn a_model_file_gives_the_zoo_models_tokens() {
    let Some(w) = dinov2() else { return };
    let Some(r) =
        patchlens_testutil::shared_asset("reference/dinov2_vits14_imgfocus/chelsea.safetensors")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("models.toml");
    std::fs::write(
        &file,
        format!(
            "[model.my_small]\nfamily = \"dinov2\"\nlike = \"dinov2_vits14\"\nweights = {:?}\n\n\
             [model.my_small_sizeform]\nlike = \"dinov2_vits14\"\nconfig = {{ pos_interp = \"dinov2_size\" }}\n\
             mean = [0.5, 0.25, 0.125]\nstd = [0.5, 0.5, 0.5]\n",
            w.display().to_string()
        ),
    )
    .unwrap();
    let mut reg = ModelRegistry::new();
    reg.add_file(&file).unwrap();
    let (input_shape, input) = patchlens_eval::safetensors_io::read_f32(&r, "input").unwrap();
    assert_eq!(input_shape, [3, 224, 224]);

    let mine = reg.spec("my_small").unwrap();
    assert_eq!(mine.name, "my_small");
    assert_eq!(mine.config, ModelSpec::zoo("dinov2_vits14").unwrap().config);
    let src = reg.source("my_small", Path::new("/nowhere")).unwrap();
    assert_eq!(
        src,
        ModelSource::Weights {
            path: w.clone(),
            part: None
        },
        "the model file's absolute weights path"
    );
    let a = final_tokens(&mine, &w, &input);
    let b = final_tokens(&ModelSpec::zoo("dinov2_vits14").unwrap(), &w, &input);
    assert_eq!(
        a, b,
        "a model file naming the zoo architecture gives its tokens"
    );

    // The size-form grid rule reproduces the onnxruntime reference, which was exported with it.
    let sized = reg.spec("my_small_sizeform").unwrap();
    let (_, want) = patchlens_eval::safetensors_io::read_f32(&r, "final_norm").unwrap();
    let got = final_tokens(&sized, &w, &input);
    let err = got
        .iter()
        .zip(&want[384..])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err <= 1e-4, "max |Δ| {err} vs onnxruntime");

    // The model's mean / std reach the image path: the tiling protocol and frame normalisation use them.
    assert_eq!(sized.norm.mean, [0.5, 0.25, 0.125]);
    let m = sized
        .load(&ModelSource::Random { seed: 0 }, &Device::flex())
        .unwrap();
    let tokens = ModelTokens::new(&m, None, 1);
    let spec = SegSource::Camvid { root: "x".into() }
        .tile_spec(&tokens)
        .unwrap();
    assert_eq!((spec.mean, spec.std), ([0.5, 0.25, 0.125], [0.5, 0.5, 0.5]));
    let px = patchlens_image::ImageU8 {
        width: 1,
        height: 1,
        channels: 3,
        data: vec![255, 128, 0],
    };
    let n = tokens.norm().apply(&px);
    assert_eq!(n.data, vec![1.0, (128.0 / 255.0 - 0.25) / 0.5, -0.25]);

    // Errors name the file and the key.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[model.x]\nlike = \"dinov2_vits14\"\nstd = [0.0, 1.0, 1.0]\n",
    )
    .unwrap();
    let e = patchlens_eval::error::chain(&ModelRegistry::new().add_file(&bad).unwrap_err());
    assert!(e.contains("bad.toml") && e.contains("std"), "{e}");
    std::fs::write(&bad, "[model.x]\nlike = \"dinov2_vits14\"\nbogus = 1\n").unwrap();
    let e = patchlens_eval::error::chain(&ModelRegistry::new().add_file(&bad).unwrap_err());
    assert!(e.contains("bad.toml") && e.contains("bogus"), "{e}");
}

/// CamVid's class names in label order.
fn camvid_classes() -> Vec<&'static str> {
    patchlens_data::camvid::CAMVID_CLASSES.to_vec()
}

/// Write `camvid` (SegNet layout) as a folder dataset under `dest`: void 11 → 255.
fn camvid_as_folder(camvid: &Path, dest: &Path) {
    for (s, name) in [
        (patchlens_data::camvid::CamVidSplit::Train, "train"),
        (patchlens_data::camvid::CamVidSplit::Test, "test"),
    ] {
        let split = patchlens_data::camvid::open(camvid, s).unwrap();
        let mut renamed = split.clone();
        renamed.split = name.to_string();
        patchlens_data::folder::write_from_split(
            &renamed,
            &camvid_classes(),
            |v| if v == 11 { 255 } else { v },
            dest,
        )
        .unwrap();
    }
}

fn scores(r: &segmentation::SegmentationResult) -> (f64, f64, Vec<(String, f64)>) {
    let s = &r.runs[0].scores;
    (s.miou, s.pixel_accuracy, s.per_class_iou.clone())
}

#[test]
fn camvid_as_a_folder_dataset_scores_like_the_camvid_reader() {
    let Some(w) = dinov2() else { return };
    let Some(camvid) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("camvid-folder");
    camvid_as_folder(&camvid, &folder);
    let model = ModelSpec::zoo("dinov2_vits14")
        .unwrap()
        .load(
            &ModelSource::Weights {
                path: w,
                part: None,
            },
            &Device::flex(),
        )
        .unwrap();
    let tokens = ModelTokens::new(&model, None, 16);
    let mut cfg = SegmentationConfig::new(SegSource::Camvid {
        root: camvid.clone(),
    });
    cfg.bootstrap.resamples = 0;
    let a = segmentation::run(&cfg, &tokens).unwrap();
    cfg.source = SegSource::Folder {
        root: folder,
        protocol: Default::default(),
    };
    let b = segmentation::run(&cfg, &tokens).unwrap();
    let (ma, pa, ca) = scores(&a);
    let (mb, pb, cb) = scores(&b);
    assert_eq!(ma, mb, "mIoU");
    assert_eq!(pa, pb, "pixel accuracy");
    assert_eq!(ca, cb, "per-class IoU");
    assert_eq!(
        a.runs[0].scores.patch_accuracy,
        b.runs[0].scores.patch_accuracy
    );
    // The run measured something real: the CamVid-mini 1-NN floor of the project (0.318 measured).
    assert!(ma > 0.25, "CamVid-mini 1-NN mIoU {ma}");
    assert_eq!(a.spec.tile_grid, b.spec.tile_grid);
}

#[test]
fn precomputed_features_give_the_backbone_runs_scores() {
    let Some(w) = dinov2() else { return };
    let Some(camvid) = patchlens_testutil::shared_asset("data/camvid-mini") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("camvid");
    support::camvid_subset(&camvid, &root, 6, 3);
    let spec = ModelSpec::zoo("dinov2_vits14").unwrap();
    let model = spec
        .load(
            &ModelSource::Weights {
                path: w,
                part: None,
            },
            &Device::flex(),
        )
        .unwrap();
    let tokens = ModelTokens::new(&model, None, 16);
    let source = SegSource::Camvid { root };
    let mut cfg = SegmentationConfig::new(source.clone());
    cfg.probes = vec![
        segmentation::ProbeKind::Knn,
        segmentation::ProbeKind::Linear,
    ];
    cfg.linear.epochs = 3;
    cfg.bootstrap.resamples = 50;
    let from_model = segmentation::run(&cfg, &tokens).unwrap();

    let dir = tmp.path().join("features");
    for split in ["train", "test"] {
        segmentation::features::export_split(
            &source,
            split,
            &tokens,
            &[12],
            &dir,
            &BTreeMap::new(),
        )
        .unwrap();
    }
    assert!(dir.join("camvid/train").is_dir());
    let files = FeatureDir {
        dir: dir.clone(),
        name: model.name.clone(),
        family: spec.family,
        patch_size: 14,
        depth: 12,
        embed_dim: 384,
        native_size: spec.config.img_size,
        paper_model: None,
    };
    let from_files = segmentation::run(&cfg, &files).unwrap();
    assert_eq!(from_model.runs.len(), 2);
    for (a, b) in from_model.runs.iter().zip(&from_files.runs) {
        assert_eq!(a.probe, b.probe);
        assert_eq!(a.scores, b.scores, "{:?}: features from files", a.probe);
    }

    // A missing layer or a file of another model is a clear error naming the file.
    let mut other = files.clone();
    other.embed_dim = 768;
    let e = patchlens_eval::error::chain(&segmentation::run(&cfg, &other).unwrap_err());
    assert!(e.contains(".safetensors") && e.contains("768"), "{e}");
    let mut c2 = cfg.clone();
    c2.layers = vec![patchlens_eval::LayerSel::Index(6)];
    let e = patchlens_eval::error::chain(&segmentation::run(&c2, &files).unwrap_err());
    assert!(e.contains("layer6"), "{e}");
}
