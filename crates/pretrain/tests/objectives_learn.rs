//! A few AdamW steps on a fixed batch lower each objective's loss (the gradients reach the parameters
//! and point downhill), and `pretrain` end to end writes a loadable checkpoint and a loss log.

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use patchlens_image::ImageU8;
use patchlens_pretrain::data::{batch_tensor, crop_resize, dominant_class, render_pool};
use patchlens_pretrain::init::{Init, init_vit_model};
use patchlens_pretrain::objectives::dino::{DinoHead, DinoNet, dino_loss, teacher_targets};
use patchlens_pretrain::objectives::mae::{MaeNet, random_mask};
use patchlens_pretrain::objectives::simmim::{SimmimNet, block_mask};
use patchlens_pretrain::objectives::supervised::SupervisedNet;
use patchlens_pretrain::{Method, PretrainOptions, load_pretrained, presets, pretrain};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const STEPS: usize = 6;

fn batch(n: usize, side: usize) -> (Vec<ImageU8>, Vec<ImageU8>) {
    let preset = presets::micro();
    let pool = render_pool(&preset.scenes, 0..n).unwrap();
    let s = preset.scenes.size;
    let imgs = pool
        .iter()
        .map(|p| crop_resize(&p.image, (0, 0, s, s), side, false).unwrap())
        .collect();
    let masks = pool
        .iter()
        .map(|p| crop_resize(&p.classes, (0, 0, s, s), side, true).unwrap())
        .collect();
    (imgs, masks)
}

fn assert_decreases(name: &str, losses: &[f32]) {
    let first = losses[0];
    let last = *losses.last().unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "{name}: {losses:?}");
    assert!(
        last < 0.9 * first,
        "{name}: loss did not drop by 10 %: {losses:?}"
    );
}

#[test]
fn supervised_steps_lower_the_loss() {
    let ad = Device::flex().autodiff();
    let preset = presets::micro();
    let cfg = preset.vit_config(Method::Supervised).validated().unwrap();
    let mut init = Init::new(0);
    let mut net = SupervisedNet::new(
        init_vit_model(&cfg, false, 0, &ad).unwrap(),
        &cfg,
        9,
        &mut init,
        &ad,
    );
    let (imgs, masks) = batch(8, 32);
    let labels: Vec<usize> = masks.iter().map(|m| dominant_class(m, 9)).collect();
    let mut opt = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let loss = net
            .loss(&cfg, batch_tensor(&imgs, &ad).unwrap(), &labels)
            .unwrap();
        losses.push(loss.clone().into_scalar::<f32>());
        let g = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(1e-3, net, g);
    }
    assert_decreases("supervised", &losses);
}

#[test]
fn mae_steps_lower_the_loss() {
    let ad = Device::flex().autodiff();
    let preset = presets::micro();
    let cfg = preset.vit_config(Method::Mae).validated().unwrap();
    let mut init = Init::new(0);
    let mut net = MaeNet::new(
        init_vit_model(&cfg, true, 0, &ad).unwrap(),
        &cfg,
        16,
        1,
        2,
        &mut init,
        &ad,
    )
    .unwrap();
    let (imgs, _) = batch(8, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let masks: Vec<_> = (0..8)
        .map(|_| random_mask(&mut rng, 16, 0.75).unwrap())
        .collect();
    let mut opt = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let loss = net
            .loss(&cfg, batch_tensor(&imgs, &ad).unwrap(), &masks, true)
            .unwrap();
        losses.push(loss.clone().into_scalar::<f32>());
        let g = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(2e-3, net, g);
    }
    assert_decreases("mae", &losses);
    // The fixed sin-cos positions are not trained.
    let pos = net
        .backbone
        .pos_embed
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let want = patchlens_pretrain::init::mae_sincos(cfg.embed_dim, 4);
    assert_eq!(pos, want);
}

#[test]
fn simmim_steps_lower_the_loss_and_leave_the_key_bias_zero() {
    let ad = Device::flex().autodiff();
    let preset = presets::micro();
    let cfg = preset.vit_config(Method::Simmim).validated().unwrap();
    let mut init = Init::new(0);
    let mut net = SimmimNet::new(
        init_vit_model(&cfg, false, 0, &ad).unwrap(),
        &cfg,
        &mut init,
        &ad,
    );
    let (imgs, _) = batch(8, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let masks: Vec<_> = (0..8)
        .map(|_| block_mask(&mut rng, 4, 2, 0.6).unwrap())
        .collect();
    let mut opt = AdamWConfig::new().with_weight_decay(0.05).init();
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let loss = net
            .loss(&cfg, batch_tensor(&imgs, &ad).unwrap(), &masks)
            .unwrap();
        losses.push(loss.clone().into_scalar::<f32>());
        let g = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(2e-3, net, g);
    }
    assert_decreases("simmim", &losses);
    let d = cfg.embed_dim;
    let b = net.backbone.blocks[0]
        .qkv
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(b[d..2 * d].iter().all(|&v| v == 0.0));
    assert!(b[..d].iter().any(|&v| v != 0.0));
}

#[test]
fn dino_steps_lower_the_loss_against_a_fixed_teacher() {
    // The plain head, and the head with BatchNorm and learned last-layer gains.
    for (norm_last_layer, use_bn) in [(true, false), (false, true)] {
        dino_steps_lower_the_loss(norm_last_layer, use_bn);
    }
}

fn dino_steps_lower_the_loss(norm_last_layer: bool, use_bn: bool) {
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let preset = presets::micro();
    let cfg = preset.vit_config(Method::Dino).validated().unwrap();
    let mut init = Init::new(0);
    let head = DinoHead::with_options(
        &mut init,
        cfg.embed_dim,
        32,
        16,
        64,
        norm_last_layer,
        use_bn,
        &ad,
    );
    let mut student = DinoNet {
        backbone: init_vit_model(&cfg, false, 0, &ad).unwrap(),
        head,
    };
    // A different network as teacher, so that the targets are not already matched.
    let mut init2 = Init::new(1);
    let teacher = DinoNet {
        backbone: init_vit_model(&cfg, false, 1, &dev).unwrap(),
        head: DinoHead::new(&mut init2, cfg.embed_dim, 32, 16, 64, &dev),
    };
    let (g1, _) = batch(4, 32);
    let (g2, _) = batch(4, 16);
    let t = teacher
        .forward(&cfg, batch_tensor(&g1, &dev).unwrap())
        .unwrap();
    let center = Tensor::<2>::zeros([1, 64], &dev);
    let targets = vec![
        teacher_targets(t.clone(), center.clone(), 0.04),
        teacher_targets(t, center, 0.04),
    ];
    let mut opt = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let s1 = student
            .forward(&cfg, batch_tensor(&g1, &ad).unwrap())
            .unwrap();
        let s2 = student
            .forward(&cfg, batch_tensor(&g2, &ad).unwrap())
            .unwrap();
        let loss = dino_loss(&[s1.clone(), s1, s2], &targets, 0.1).unwrap();
        losses.push(loss.clone().into_scalar::<f32>());
        let g = GradientsParams::from_grads(loss.backward(), &student);
        student = opt.step(3e-3, student, g);
    }
    assert_decreases(&format!("dino (bn {use_bn})"), &losses);
    let _ = student.valid();
}

#[test]
fn pretrain_end_to_end_writes_a_loadable_checkpoint_and_a_log() {
    let dir = tempfile::tempdir().unwrap();
    for method in Method::ALL {
        let out = dir.path().join(format!("{method}_micro.safetensors"));
        let mut opts = PretrainOptions::new(method, &out, Device::flex());
        opts.preset = "micro".into();
        opts.steps = Some(3);
        let r = pretrain(&opts).unwrap();
        assert_eq!(r.family, method.family());
        let log = std::fs::read_to_string(&r.log).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["step"], 2);
        assert!(lines[0]["loss"].as_f64().unwrap().is_finite());
        // DINO logs the teacher targets' entropy, between 0 and ln K (micro: K = 64).
        let entropy = lines[0]["teacher_entropy"].as_f64();
        if method == Method::Dino {
            let h = entropy.unwrap();
            assert!(h > 0.0 && h <= 64f64.ln() + 1e-6, "{h}");
        } else {
            assert!(entropy.is_none());
        }
        let vit = load_pretrained(&out, method, "micro", &Device::flex()).unwrap();
        assert_eq!(vit.config, r.config);
    }
    let mut bad = PretrainOptions::new(Method::Dino, dir.path().join("x.bin"), Device::flex());
    bad.preset = "micro".into();
    assert!(pretrain(&bad).unwrap_err().to_string().contains("x.bin"));
}

#[test]
fn error_chains_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    // A checkpoint that does not exist: the backbone crate's I/O error, passed through unchanged.
    let missing = dir.path().join("absent.safetensors");
    let os = std::fs::File::open(&missing).unwrap_err().to_string();
    let e = load_pretrained(&missing, Method::Dino, "micro", &Device::flex()).unwrap_err();
    assert_eq!(
        patchlens_testutil::error_chain(&e),
        [format!("I/O error on {}", missing.display()), os]
    );
    patchlens_testutil::assert_each_cause_once(&e, 2);
    // The log folder cannot be made because a file holds its name (checked before any training).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let os = std::fs::create_dir_all(&blocker).unwrap_err().to_string();
    let mut opts = PretrainOptions::new(
        Method::Dino,
        blocker.join("model.safetensors"),
        Device::flex(),
    );
    opts.preset = "micro".into();
    let e = pretrain(&opts).unwrap_err();
    assert_eq!(
        patchlens_testutil::error_chain(&e),
        [format!("I/O error on {}", blocker.display()), os]
    );
    patchlens_testutil::assert_each_cause_once(&e, 2);
}
