//! The training loops and the `pretrain` entry point the CLI calls.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use patchlens_image::{ImageU8, crop};
use patchlens_vit::{Family, Vit, VitConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::{
    PoolScene, batch_tensor, crop_resize, dino_photometric, dominant_class, hflip, random_crop_box,
    render_pool,
};
use crate::error::{PretrainError, Result, invalid, io_err};
use crate::export::{
    ExportDtype, TrainedNet, export, mae_decoder_path, mae_decoder_tensors, write_safetensors,
};
use crate::init::{Init, init_vit_model};
use crate::method::Method;
use crate::objectives::dino::{
    DinoHead, DinoNet, dino_loss, ema_update, mean_entropy, teacher_momentum, teacher_targets,
    updated_center,
};
use crate::objectives::mae::{MaeMask, MaeNet, random_mask};
use crate::objectives::simmim::{SimmimNet, block_mask};
use crate::objectives::supervised::SupervisedNet;
use crate::presets::{OptimHparams, Preset, by_name};

/// What `cargo xtask pretrain` asks for.
#[derive(Clone, Debug)]
pub struct PretrainOptions {
    /// Objective.
    pub method: Method,
    /// Preset name (`tiny`, `micro`).
    pub preset: String,
    /// Optimisation steps (default: the preset's).
    pub steps: Option<usize>,
    /// Seed of initialisation, data sampling and masks.
    pub seed: u64,
    /// Output checkpoint (`.safetensors`).
    pub out: PathBuf,
    /// JSON-lines loss log (default: `out` with extension `.loss.jsonl`).
    pub log: Option<PathBuf>,
    /// Device to train on (wrapped for autodiff internally), e.g. `Device::flex()`.
    pub device: Device,
    /// Element type of the exported floats.
    pub dtype: ExportDtype,
}

impl PretrainOptions {
    /// Defaults: preset `tiny`, its default steps, seed 0, f32 export, log next to the checkpoint.
    pub fn new(method: Method, out: impl Into<PathBuf>, device: Device) -> Self {
        PretrainOptions {
            method,
            preset: "tiny".into(),
            steps: None,
            seed: 0,
            out: out.into(),
            log: None,
            device,
            dtype: ExportDtype::F32,
        }
    }

    /// The loss-log path.
    pub fn log_path(&self) -> PathBuf {
        self.log.clone().unwrap_or_else(|| {
            let stem = self
                .out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pretrain".into());
            self.out.with_file_name(format!("{stem}.loss.jsonl"))
        })
    }
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct PretrainReport {
    /// Objective.
    pub method: Method,
    /// Family of the checkpoint (give it to `patchlens_vit::load_backbone`).
    pub family: Family,
    /// Preset name.
    pub preset: String,
    /// Architecture (give it to `patchlens_vit::load_backbone`).
    pub config: VitConfig,
    /// Checkpoint written.
    pub checkpoint: PathBuf,
    /// Loss log written.
    pub log: PathBuf,
    /// Steps run.
    pub steps: usize,
    /// Seed.
    pub seed: u64,
    /// Loss of the first step.
    pub first_loss: f64,
    /// Mean loss of the last `min(20, steps)` steps.
    pub final_loss: f64,
    /// Wall-clock seconds of the training loop (scene rendering excluded).
    pub train_seconds: f64,
    /// `train_seconds / steps`.
    pub seconds_per_step: f64,
    /// Seconds spent rendering the scene pool.
    pub render_seconds: f64,
    /// Trainable + fixed parameters of the exported backbone.
    pub backbone_params: usize,
}

/// One line of the loss log.
#[derive(Clone, Debug, Serialize)]
pub struct LogRecord {
    /// Step (0-based).
    pub step: usize,
    /// Loss of this step's batch.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Seconds since the start of the loop.
    pub elapsed_s: f64,
    /// Method-specific extra value (DINO: teacher momentum), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<f64>,
    /// DINO: mean entropy (nats) of the centred, sharpened teacher targets of this step (`ln K` =
    /// uniform collapse, 0 = one-hot collapse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher_entropy: Option<f64>,
}

/// Learning rate at `step` of `steps`: linear warm-up to `lr`, then cosine decay to `min_lr`.
pub fn learning_rate(h: &OptimHparams, step: usize, steps: usize) -> f64 {
    if step < h.warmup_steps {
        return h.lr * (step + 1) as f64 / h.warmup_steps as f64;
    }
    let span = steps.saturating_sub(h.warmup_steps).max(1) as f64;
    let t = ((step - h.warmup_steps) as f64 / span).min(1.0);
    h.min_lr + (h.lr - h.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

fn optimizer(h: &OptimHparams) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(h.beta2)
        .with_epsilon(1e-8)
        .with_weight_decay(h.weight_decay)
        .with_grad_clipping(h.grad_clip.map(GradientClippingConfig::Norm))
        .init()
}

fn scalar(loss: &Tensor<1>, method: Method, step: usize) -> Result<f64> {
    let v = crate::tensor::host(loss.clone(), "loss")?;
    let v = v.first().copied().unwrap_or(f32::NAN) as f64;
    if !v.is_finite() {
        return Err(PretrainError::NonFinite {
            method: method.name(),
            step,
            loss: v,
        });
    }
    Ok(v)
}

/// A random resized crop (and its class mask) of a random pool scene, flipped with probability ½.
fn sample_crop<R: Rng>(
    rng: &mut R,
    pool: &[PoolScene],
    out: usize,
    scale: (f32, f32),
    flip: bool,
) -> Result<(ImageU8, ImageU8)> {
    let s = &pool[rng.random_range(0..pool.len())];
    let b = random_crop_box(rng, s.image.width, s.image.height, scale);
    let mut img = crop_resize(&s.image, b, out, false)?;
    let mut mask = crop_resize(&s.classes, b, out, true)?;
    if flip && rng.random_bool(0.5) {
        hflip(&mut img);
        hflip(&mut mask);
    }
    Ok((img, mask))
}

/// Run `steps` optimisation steps of `method` under `preset` on `device` (wrapped for autodiff) and
/// return the trained networks on the plain device. `log` receives one record per step.
pub fn train(
    method: Method,
    preset: &Preset,
    steps: usize,
    seed: u64,
    device: &Device,
    pool: &[PoolScene],
    log: &mut dyn FnMut(&LogRecord) -> Result<()>,
) -> Result<TrainedNet> {
    preset.validate()?;
    if pool.is_empty() {
        return Err(invalid("scene pool", 0, "need at least one training scene"));
    }
    let ad = device.clone().autodiff();
    let cfg = preset.vit_config(method).validated()?;
    let h = preset.optim(method).clone();
    let mut init = Init::new(seed ^ 0x1217);
    let backbone = init_vit_model(&cfg, method == Method::Mae, seed, &ad)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDA7A);
    let mut optim = optimizer(&h);
    let start = Instant::now();
    let img = preset.img_size;
    let g = cfg.native_grid();
    let mut record = |step: usize, loss: f64, lr: f64, extra: Option<(f64, f64)>| {
        log(&LogRecord {
            step,
            loss,
            lr,
            elapsed_s: start.elapsed().as_secs_f64(),
            extra: extra.map(|e| e.0),
            teacher_entropy: extra.map(|e| e.1),
        })
    };
    match method {
        Method::Supervised => {
            let mut net = SupervisedNet::new(backbone, &cfg, preset.num_labels(), &mut init, &ad);
            for step in 0..steps {
                let lr = learning_rate(&h, step, steps);
                let mut imgs = Vec::with_capacity(h.batch_size);
                let mut labels = Vec::with_capacity(h.batch_size);
                for _ in 0..h.batch_size {
                    let (im, mask) =
                        sample_crop(&mut rng, pool, img, preset.supervised_crop_scale, true)?;
                    labels.push(dominant_class(&mask, preset.num_labels()));
                    imgs.push(im);
                }
                let x = batch_tensor(&imgs, &ad)?;
                let loss = net.loss(&cfg, x, &labels)?;
                let v = scalar(&loss, method, step)?;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(lr, net, grads);
                record(step, v, lr, None)?;
            }
            Ok(TrainedNet::Supervised(net.valid()))
        }
        Method::Mae => {
            let m = &preset.mae;
            let mut net = MaeNet::new(
                backbone,
                &cfg,
                m.decoder_dim,
                m.decoder_depth,
                m.decoder_heads,
                &mut init,
                &ad,
            )?;
            for step in 0..steps {
                let lr = learning_rate(&h, step, steps);
                let mut imgs = Vec::with_capacity(h.batch_size);
                let mut masks: Vec<MaeMask> = Vec::with_capacity(h.batch_size);
                for _ in 0..h.batch_size {
                    imgs.push(sample_crop(&mut rng, pool, img, m.crop_scale, true)?.0);
                    masks.push(random_mask(&mut rng, g * g, m.mask_ratio)?);
                }
                let x = batch_tensor(&imgs, &ad)?;
                let loss = net.loss(&cfg, x, &masks, m.norm_pix_loss)?;
                let v = scalar(&loss, method, step)?;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(lr, net, grads);
                record(step, v, lr, None)?;
            }
            Ok(TrainedNet::Mae(net.valid()))
        }
        Method::Simmim => {
            let s = &preset.simmim;
            let block = s.mask_patch_size / cfg.patch_size;
            let mut net = SimmimNet::new(backbone, &cfg, &mut init, &ad);
            for step in 0..steps {
                let lr = learning_rate(&h, step, steps);
                let mut imgs = Vec::with_capacity(h.batch_size);
                let mut masks = Vec::with_capacity(h.batch_size);
                for _ in 0..h.batch_size {
                    imgs.push(sample_crop(&mut rng, pool, img, s.crop_scale, true)?.0);
                    masks.push(block_mask(&mut rng, g, block, s.mask_ratio)?);
                }
                let x = batch_tensor(&imgs, &ad)?;
                let loss = net.loss(&cfg, x, &masks)?;
                let v = scalar(&loss, method, step)?;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(lr, net, grads);
                record(step, v, lr, None)?;
            }
            Ok(TrainedNet::Simmim(net.valid()))
        }
        Method::Dino => {
            let dh = &preset.dino;
            let head = DinoHead::with_options(
                &mut init,
                cfg.embed_dim,
                dh.hidden_dim,
                dh.bottleneck_dim,
                dh.out_dim,
                dh.norm_last_layer,
                dh.use_bn_in_head,
                &ad,
            );
            let mut student = DinoNet { backbone, head };
            let mut teacher = student.valid();
            let mut center = Tensor::<2>::zeros([1, dh.out_dim], device);
            for step in 0..steps {
                let lr = learning_rate(&h, step, steps);
                let b = h.batch_size;
                let mut globals = [Vec::with_capacity(b), Vec::with_capacity(b)];
                let mut locals: Vec<ImageU8> = Vec::with_capacity(b * dh.local_crops);
                let mut local_views: Vec<Vec<ImageU8>> =
                    vec![Vec::with_capacity(b); dh.local_crops];
                for _ in 0..b {
                    let scene = &pool[rng.random_range(0..pool.len())].image;
                    let region = match dh.view_region {
                        Some(scale) => {
                            let r = random_crop_box(&mut rng, scene.width, scene.height, scale);
                            Some(
                                crop(scene, r.0, r.1, r.2, r.3)
                                    .map_err(|e| invalid("view region", format!("{r:?}"), e))?,
                            )
                        }
                        None => None,
                    };
                    let src = region.as_ref().unwrap_or(scene);
                    for (v, (blur, sol)) in [(1.0, 0.0), (0.1, 0.2)].into_iter().enumerate() {
                        let bx = random_crop_box(&mut rng, src.width, src.height, dh.global_scale);
                        let mut im = crop_resize(src, bx, img, false)?;
                        dino_photometric(&mut rng, &mut im, blur, sol, dh.colour_augment)?;
                        globals[v].push(im);
                    }
                    for view in local_views.iter_mut() {
                        let bx = random_crop_box(&mut rng, src.width, src.height, dh.local_scale);
                        let mut im = crop_resize(src, bx, dh.local_size, false)?;
                        dino_photometric(&mut rng, &mut im, 0.5, 0.0, dh.colour_augment)?;
                        view.push(im);
                    }
                }
                let all_globals: Vec<ImageU8> = globals.concat();
                for v in local_views {
                    locals.extend(v);
                }
                let tg = teacher.forward(&cfg, batch_tensor(&all_globals, device)?)?;
                let t_views: Vec<Tensor<2>> =
                    (0..2).map(|i| tg.clone().narrow(0, i * b, b)).collect();
                let targets: Vec<Tensor<2>> = t_views
                    .iter()
                    .map(|t| teacher_targets(t.clone(), center.clone(), dh.teacher_temp))
                    .collect();
                let sg = student.forward(&cfg, batch_tensor(&all_globals, &ad)?)?;
                let mut s_views: Vec<Tensor<2>> =
                    (0..2).map(|i| sg.clone().narrow(0, i * b, b)).collect();
                if dh.local_crops > 0 {
                    let sl = student.forward(&cfg, batch_tensor(&locals, &ad)?)?;
                    s_views.extend((0..dh.local_crops).map(|i| sl.clone().narrow(0, i * b, b)));
                }
                let entropy = mean_entropy(&targets)?;
                let loss = dino_loss(&s_views, &targets, dh.student_temp)?;
                let v = scalar(&loss, method, step)?;
                center = updated_center(center, &t_views, dh.center_momentum)?;
                let grads = GradientsParams::from_grads(loss.backward(), &student);
                student = optim.step(lr, student, grads);
                let m = teacher_momentum(dh.teacher_momentum, step, steps);
                teacher = ema_update(teacher, &student, m)?;
                record(step, v, lr, Some((m, entropy)))?;
            }
            Ok(TrainedNet::Dino {
                teacher: Box::new(teacher),
                student: Box::new(student.valid()),
            })
        }
    }
}

/// The scene pool of a preset (rendered once, `preset.train_scenes` scenes).
pub fn preset_pool(preset: &Preset) -> Result<Vec<PoolScene>> {
    render_pool(&preset.scenes, 0..preset.train_scenes)
}

/// Train `opts.method` under `opts.preset` and write the checkpoint and the loss log.
///
/// The checkpoint carries the official key names of [`Method::family`]; read it back with
/// [`load_pretrained`] or `patchlens_vit::load_backbone(path, report.family, report.config, None, device)`.
pub fn pretrain(opts: &PretrainOptions) -> Result<PretrainReport> {
    let preset = by_name(&opts.preset)?;
    preset.validate()?;
    let steps = opts.steps.unwrap_or(preset.optim(opts.method).steps);
    if steps == 0 {
        return Err(invalid("steps", 0, "must be positive"));
    }
    if opts.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(invalid(
            "out",
            opts.out.display(),
            "the checkpoint must be a .safetensors file",
        ));
    }
    let log_path = opts.log_path();
    if let Some(dir) = log_path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let t0 = Instant::now();
    let pool = preset_pool(&preset)?;
    let render_seconds = t0.elapsed().as_secs_f64();
    let file = std::fs::File::create(&log_path).map_err(|e| io_err(&log_path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let mut losses = Vec::with_capacity(steps);
    let t1 = Instant::now();
    let net = {
        let mut log = |r: &LogRecord| -> Result<()> {
            losses.push(r.loss);
            let line = serde_json::to_string(r).map_err(|e| invalid("log record", r.step, e))?;
            writeln!(w, "{line}").map_err(|e| io_err(&log_path, e))?;
            w.flush().map_err(|e| io_err(&log_path, e))
        };
        train(
            opts.method,
            &preset,
            steps,
            opts.seed,
            &opts.device,
            &pool,
            &mut log,
        )?
    };
    let train_seconds = t1.elapsed().as_secs_f64();
    let cfg = preset.vit_config(opts.method).validated()?;
    export(
        &net,
        &cfg,
        &opts.out,
        opts.dtype,
        &[
            ("preset", preset.name.to_string()),
            ("steps", steps.to_string()),
            ("seed", opts.seed.to_string()),
        ],
    )?;
    if let TrainedNet::Mae(n) = &net {
        // The decoder beside the encoder (MAE reconstruction needs it; the encoder file is unchanged).
        let mut meta = std::collections::HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        meta.insert("patchlens.method".to_string(), "mae_decoder".to_string());
        meta.insert(
            "patchlens.decoder".to_string(),
            format!(
                "{{\"decoder_dim\":{},\"decoder_depth\":{},\"decoder_heads\":{},\"norm_pix_loss\":{}}}",
                preset.mae.decoder_dim,
                preset.mae.decoder_depth,
                preset.mae.decoder_heads,
                preset.mae.norm_pix_loss
            ),
        );
        write_safetensors(
            &mae_decoder_path(&opts.out),
            &mae_decoder_tensors(&n.decoder, &cfg)?,
            opts.dtype,
            meta,
        )?;
    }
    let tail = losses.len().min(20);
    let final_loss = losses[losses.len() - tail..].iter().sum::<f64>() / tail as f64;
    Ok(PretrainReport {
        method: opts.method,
        family: opts.method.family(),
        preset: preset.name.to_string(),
        config: cfg,
        checkpoint: opts.out.clone(),
        log: log_path,
        steps,
        seed: opts.seed,
        first_loss: losses[0],
        final_loss,
        train_seconds,
        seconds_per_step: train_seconds / steps as f64,
        render_seconds,
        backbone_params: net.backbone().num_params(),
    })
}

/// Load a checkpoint written by [`pretrain`] for `method` under preset `preset` through the normal
/// loader (`patchlens_vit::load_backbone` with the method's family and the preset's architecture).
pub fn load_pretrained(path: &Path, method: Method, preset: &str, device: &Device) -> Result<Vit> {
    let preset = by_name(preset)?;
    let (vit, _) = patchlens_vit::load_backbone(
        path,
        method.family(),
        preset.vit_config(method),
        None,
        device,
    )?;
    Ok(vit)
}

/// A randomly initialised backbone of `method`'s architecture under `preset` (the random-weights
/// baseline), seeded.
pub fn random_backbone(method: Method, preset: &str, seed: u64, device: &Device) -> Result<Vit> {
    let preset = by_name(preset)?;
    let cfg = preset.vit_config(method).validated()?;
    let model = init_vit_model(&cfg, method == Method::Mae, seed, device)?;
    Ok(Vit::new(model, cfg, device.clone()))
}
