//! MAE reconstruction with high-variance dimensions replaced (`patchlens_eval::reconstruction`) on the
//! shipped tiny MAE (`fixtures/pretrained/mae_tiny.safetensors` + `mae_tiny_decoder.safetensors`) and a few
//! synthetic scenes. Checked against values computed here with `patchlens_vit::mae` directly:
//!
//! - N = 0 (`plain`) equals MAE's loss of the unmodified latent under the same seeded masks;
//! - zeroing all D dimensions equals decoding an all-zero latent (and the control, which then zeroes the
//!   same set, gives the same number);
//! - the mean mode at N = D equals decoding a latent filled with the per-dimension mean of the statistics
//!   split's unmasked last-layer patch tokens, computed here in f64;
//! - the figure is written, and the report names are the documented ones.

use patchlens_data::{cut_tiles, model_input};
use patchlens_eval::reconstruction::{self, MaeModel, ReconstructionConfig, ReplaceMode, keys};
use patchlens_eval::{InputNorm, ModelSource, ModelSpec, ModelTokens, SegSource};
use patchlens_image::to_chw;
use patchlens_report::ExperimentKind;
use patchlens_vit::mae::{MaeMask, masked_mean, patch_errors, patchify};
use patchlens_vit::{Device, Tensor, TensorData};

fn tiles_of(source: &SegSource, split: &str, model: &MaeModel, limit: usize) -> Vec<Vec<f32>> {
    let side = model.mae.input_size();
    let spec = source
        .tile_spec_for(model.mae.encoder.config.patch_size, side, model.norm)
        .unwrap();
    let (s, _) = source.open(split).unwrap();
    let mut out = Vec::new();
    for i in 0..s.entries.len() {
        let sample = s.load(i).unwrap();
        for t in cut_tiles(&spec, &sample.id, &sample.image, None).unwrap() {
            if out.len() < limit {
                out.push(to_chw(&model_input(&spec, &t.image)));
            }
        }
    }
    out
}

fn batch(tiles: &[Vec<f32>], side: usize) -> Tensor<4> {
    let v: Vec<f32> = tiles.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(v, [tiles.len(), 3, side, side]),
        &Device::flex(),
    )
}

#[test]
fn reconstruction_sweep_on_the_tiny_mae() {
    let dir = patchlens_testutil::fixture("pretrained");
    let ckpts = patchlens_eval::plan::pretrained_checkpoints(&dir).unwrap();
    let mae_ck = ckpts.iter().find(|c| c.method == "mae").expect("tiny MAE");
    let dev = Device::flex();
    let model = MaeModel::load(
        "tiny_mae",
        mae_ck.config.clone(),
        InputNorm::default(),
        &mae_ck.path,
        None,
        None,
        &dev,
    )
    .unwrap();
    assert!(model.decoder_path.ends_with("mae_tiny_decoder.safetensors"));
    assert!(model.mae.decoder_config.norm_pix_loss);
    let d = mae_ck.config.embed_dim;

    let tmp = tempfile::tempdir().unwrap();
    let source = SegSource::Synthetic {
        root: tmp.path().join("synthetic-seg"),
        seed: 0,
    };
    let mut cfg = ReconstructionConfig::new(source.clone());
    cfg.stats_split = Some("train1".into());
    cfg.split = Some("test1".into());
    cfg.tiles = 6;
    cfg.batch = 4; // two batches, the second one partial
    cfg.sweep = vec![0, 10, 1000];
    cfg.seed = 3;
    cfg.figure_tiles = 1;
    cfg.id = Some("r1".into());
    cfg.images_dir = Some(tmp.path().join("maps"));
    let res = reconstruction::run(&cfg, &model, None).unwrap();
    assert_eq!(res.sweep, vec![0, 10, d], "clamped to D");
    assert_eq!(res.tiles, 6);
    assert_eq!(res.masked_patches, 6 * 48, "75 % of 64 patches per tile");
    assert_eq!(res.points.len(), 1 + 3 * 2);

    // Independent values with patchlens_vit::mae.
    let side = model.mae.input_size();
    let n = model.mae.num_patches();
    let tiles = tiles_of(&source, "test1", &model, 6);
    let masks: Vec<MaeMask> = (0..6)
        .map(|i| reconstruction::tile_mask(n, 0.75, 3, i).unwrap())
        .collect();
    let x = batch(&tiles, side);
    let target = patchify(x.clone(), 8);
    let latent = model.mae.encode(x, &masks).unwrap();
    let loss_of = |lat: Tensor<3>| -> f64 {
        let pred = model.mae.decode(lat, &masks).unwrap();
        masked_mean(patch_errors(pred, target.clone(), true), &masks).unwrap() as f64
    };
    let point = |mode: Option<ReplaceMode>, n: usize| {
        res.points
            .iter()
            .find(|p| p.mode == mode && p.n == n)
            .unwrap_or_else(|| panic!("{mode:?} {n}"))
            .clone()
    };
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    };
    let plain = loss_of(latent.clone());
    close(point(None, 0).mae_loss, plain, "plain");
    let dims = latent.dims();
    let zeros = loss_of(Tensor::zeros(dims, &dev));
    close(
        point(Some(ReplaceMode::Zero), d).mae_loss,
        zeros,
        "zero, all dims",
    );
    close(
        point(Some(ReplaceMode::RandomZero), d).mae_loss,
        zeros,
        "random_zero, all dims",
    );
    // The mean of the statistics split's unmasked last-layer patch tokens, here in f64.
    let stats = tiles_of(&source, "train1", &model, usize::MAX);
    let mut sum = vec![0f64; d];
    let mut rows = 0usize;
    for chunk in stats.chunks(8) {
        let out = model
            .mae
            .encoder
            .forward_layers(batch(chunk, side), &[mae_ck.config.depth])
            .unwrap();
        let v = out.layers[0]
            .patches
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for row in v.chunks(d) {
            for (s, &x) in sum.iter_mut().zip(row) {
                *s += x as f64;
            }
            rows += 1;
        }
    }
    assert_eq!(rows, res.stats_patches);
    let mean: Vec<f32> = sum.iter().map(|s| (s / rows as f64) as f32).collect();
    let filled = Tensor::<1>::from_data(TensorData::new(mean, [d]), &dev)
        .reshape([1, 1, d])
        .expand(dims);
    close(
        point(Some(ReplaceMode::Mean), d).mae_loss,
        loss_of(filled),
        "mean, all dims",
    );
    // Replacing 10 dimensions changes the loss, and the control's 10 are not the top-10.
    let z10 = point(Some(ReplaceMode::Zero), 10).mae_loss;
    assert!((z10 - plain).abs() > 1e-6, "{z10} vs {plain}");
    assert_ne!(
        point(Some(ReplaceMode::RandomZero), 10).mae_loss,
        z10,
        "control"
    );
    // Pixel MSE is reported and finite.
    assert!(
        res.points
            .iter()
            .all(|p| p.pixel_mse.is_finite() && p.pixel_mse > 0.0)
    );

    // Figure and report names.
    assert_eq!(res.images.len(), 1);
    let patchlens_report::ImageSource::File { path } = &res.images[0].source else {
        panic!("file image")
    };
    let png = tmp.path().join("maps").join(path);
    assert!(png.exists(), "{}", png.display());
    let (w, h) = image::image_dimensions(&png).unwrap();
    // 64-px panels scaled ×2: original, masked, reconstruction, 3 modes, 2-px gaps.
    assert_eq!((w, h), (6 * 128 + 5 * 2, 128));
    let exps = res.experiments();
    assert_eq!(exps.len(), 1);
    let e = &exps[0];
    assert_eq!(e.kind, ExperimentKind::Reconstruction);
    assert_eq!(
        e.metrics[&keys::point("mae_loss", None, 0)],
        point(None, 0).mae_loss
    );
    assert!(e.metrics.contains_key("pixel_mse/random_zero/n10"));
    assert!(e.metrics.contains_key(&format!("mae_loss/mean/n{d}")));
    assert_eq!(e.curves.len(), 2 * 3);
    assert!(e.curves.iter().all(|c| c.x == vec![0.0, 10.0, d as f64]));
    assert_eq!(res.summary_lines().len(), 1);
    println!("{}", res.summary_lines()[0]);

    // The statistics through the encoder's token source (the runner's path for the unit's own weights)
    // give the same points.
    let spec = ModelSpec {
        name: "tiny_mae".into(),
        family: patchlens_vit::Family::Mae,
        config: mae_ck.config.clone(),
        norm: InputNorm::default(),
        paper_model: None,
    };
    let backbone = spec
        .load(
            &ModelSource::Weights {
                path: mae_ck.path.clone(),
                part: None,
            },
            &dev,
        )
        .unwrap();
    let tokens = ModelTokens::new(&backbone, None, 16);
    cfg.images_dir = None;
    let via_tokens = reconstruction::run(&cfg, &model, Some(&tokens)).unwrap();
    assert_eq!(via_tokens.stats_patches, res.stats_patches);
    assert_eq!(via_tokens.order[..10], res.order[..10]);
    for (a, b) in via_tokens.points.iter().zip(&res.points) {
        close(a.mae_loss, b.mae_loss, "statistics via the token source");
    }
    assert!(via_tokens.images.is_empty());
}

#[test]
fn a_model_without_decoder_is_an_error_naming_the_file() {
    let dir = patchlens_testutil::fixture("pretrained");
    let ckpts = patchlens_eval::plan::pretrained_checkpoints(&dir).unwrap();
    let dino = ckpts
        .iter()
        .find(|c| c.method == "dino")
        .expect("tiny DINO");
    let err = MaeModel::load(
        "tiny_dino",
        dino.config.clone(),
        InputNorm::default(),
        &dino.path,
        None,
        None,
        &Device::flex(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("dino_tiny.safetensors") && err.contains("mae_visualize_vit_base.pth"),
        "{err}"
    );
}

#[test]
fn decoder_files_are_resolved_or_the_unit_is_skipped_with_one_line() {
    use reconstruction::resolve_files;
    let pre = patchlens_testutil::fixture("pretrained");
    let root = tempfile::tempdir().unwrap();
    let weights = |p: &std::path::Path| ModelSource::Weights {
        path: p.to_path_buf(),
        part: None,
    };
    // The tiny MAE: its decoder beside it.
    let enc = pre.join("mae_tiny.safetensors");
    let (e, d) = resolve_files("tiny_mae", &weights(&enc), None, root.path()).unwrap();
    assert_eq!(
        (e, d),
        (enc.clone(), pre.join("mae_tiny_decoder.safetensors"))
    );
    // A checkpoint with both halves (the mae_visualize layout), found under <root>/original.
    std::fs::create_dir_all(root.path().join("original")).unwrap();
    let vis = root.path().join("original").join("vis.pth");
    std::fs::copy(
        patchlens_testutil::fixture("vit").join("mae_recon_tiny.pth"),
        &vis,
    )
    .unwrap();
    let ck = std::path::Path::new("vis.pth");
    let (e, d) = resolve_files("m", &weights(&enc), Some(ck), root.path()).unwrap();
    assert_eq!((&e, &d), (&vis, &vis));
    // Skip lines: one line each, naming the model and the reason.
    let lines = [
        resolve_files("r", &ModelSource::Random { seed: 0 }, None, root.path()).unwrap_err(),
        resolve_files(
            "m",
            &weights(&enc),
            Some("absent.pth".as_ref()),
            root.path(),
        )
        .unwrap_err(),
        resolve_files(
            "d",
            &weights(&pre.join("dino_tiny.safetensors")),
            None,
            root.path(),
        )
        .unwrap_err(),
    ];
    assert!(
        lines[0].contains("`r`") && lines[0].contains("random weights"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("absent.pth") && lines[1].contains("mae_visualize_vit_base.pth"));
    assert!(lines[2].contains("dino_tiny.safetensors"), "{}", lines[2]);
    assert!(lines.iter().all(|l| !l.contains('\n')), "{lines:?}");
}
