//! DAVIS label propagation with DINOv2-S/14, frame by frame: the predicted masks in the layout of the
//! official davis2017-evaluation, every frame's patch tokens, and per-frame J and F, so that another
//! implementation can propagate the *same* features and be compared frame by frame (e.g.
//! `fixtures/track/dino_davis_reference.py`, a transcription of DINO's `eval_video_segmentation.py`).
//!
//! ```sh
//! cargo run -p patchlens-eval --example davis_frames -- OUT [--features-from DIR] \
//!     [--sequences a,b] [--max-frames N] [--data-root DAVIS] [--weights W]
//! ```
//! Writes
//! * `OUT/masks/<sequence>/<frame>.png`: indexed PNGs (DAVIS palette, index = object id);
//! * `OUT/features/davis2016/<sequence>/<frame>.safetensors`: `layer12` `[1, rows·cols, 384]`, the final-norm
//!   patch tokens the propagation used (the [`patchlens_eval::FeatureDir`] layout), and for frame 0 of each
//!   sequence `OUT/inputs/<sequence>/<frame>.safetensors`: `input` `[3, H, W]`, the normalised model input;
//! * `OUT/scores.json`: per sequence, J and F per scored frame and their means.
//!
//! With `--score-masks DIR` no propagation runs: the masks under `DIR/<sequence>/<frame>.png` (e.g. another
//! implementation's; DAVIS 2016's 255 is read as object 1) are scored with the same J and F and printed.
//!
//! With `--features-from DIR` (an earlier run's `OUT/features`) no model is loaded: the propagation runs on
//! those tokens (seconds instead of minutes), and nothing but masks and scores is written.
//! Defaults: the shared DAVIS 2016 mini set (`$PATCHLENS_SHARED`) and its DINOv2-S/14 weights.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchlens_eval::encode::TileFn;
use patchlens_eval::propagation::{self, DavisDataset, PropagationEvalConfig};
use patchlens_eval::{
    FeatureDir, ImageFeatures, ImageRequest, ModelSource, ModelSpec, ModelTokens, TokenSource,
};
use patchlens_vit::{Device, Family};

/// A token source that hands out another's tokens and keeps a copy of each image's tokens (and of the
/// model input of every sequence's first frame) on disk.
struct Recording<'a> {
    inner: &'a dyn TokenSource,
    out: PathBuf,
    written: RefCell<usize>,
}

impl TokenSource for Recording<'_> {
    patchlens_eval::forward_token_source_description!(inner);
    fn tokens(
        &self,
        image: &ImageRequest<'_>,
        layers: &[usize],
        tiles: &mut TileFn<'_>,
    ) -> patchlens_eval::Result<BTreeMap<usize, ImageFeatures>> {
        let mut input = None;
        let feats = self.inner.tokens(image, layers, &mut || {
            let t = tiles()?;
            input = t.first().cloned();
            Ok(t)
        })?;
        FeatureDir::write(&self.out.join("features"), image, &feats, &BTreeMap::new())?;
        if let (Some(input), Some(id)) = (input, image.image_id.strip_suffix("/00000")) {
            let mut t = BTreeMap::new();
            t.insert(
                "input".to_string(),
                (vec![3, image.height, image.width], input),
            );
            let path = self.out.join("inputs").join(id).join("00000.safetensors");
            patchlens_eval::safetensors_io::write_f32(&path, &t, BTreeMap::new())?;
        }
        *self.written.borrow_mut() += 1;
        Ok(feats)
    }
}

fn main() -> patchlens_eval::Result<()> {
    let shared = patchlens_testutil::shared_dir();
    let mut out: Option<PathBuf> = None;
    let mut features_from: Option<PathBuf> = None;
    let mut score_masks: Option<PathBuf> = None;
    let mut root = shared.join("data/davis2016-mini");
    let mut weights = shared.join("weights/dinov2_vits14_imgfocus.safetensors");
    let mut sequences = Vec::new();
    let mut max_frames = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| patchlens_eval::EvalError::Msg(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--features-from" => features_from = Some(PathBuf::from(value()?)),
            "--score-masks" => score_masks = Some(PathBuf::from(value()?)),
            "--data-root" => root = PathBuf::from(value()?),
            "--weights" => weights = PathBuf::from(value()?),
            "--sequences" => sequences = value()?.split(',').map(String::from).collect(),
            "--max-frames" => {
                let v = value()?;
                max_frames = Some(v.parse().map_err(|_| {
                    patchlens_eval::EvalError::Msg(format!("--max-frames {v}: not a number"))
                })?)
            }
            _ if out.is_none() && !a.starts_with("--") => out = Some(PathBuf::from(a)),
            _ => {
                return Err(patchlens_eval::EvalError::Msg(format!(
                    "unknown argument {a}"
                )));
            }
        }
    }
    let out =
        out.ok_or_else(|| patchlens_eval::EvalError::Msg("usage: davis_frames OUT ...".into()))?;

    if let Some(dir) = score_masks {
        return score(&root, &dir, &sequences, max_frames);
    }
    let mut cfg = PropagationEvalConfig::new(DavisDataset::Davis2016, root);
    cfg.sequences = sequences;
    cfg.max_frames = max_frames;
    cfg.write_masks = Some(out.join("masks"));
    let result = match &features_from {
        Some(dir) => {
            let tokens = FeatureDir {
                dir: dir.clone(),
                name: "dinov2_vits14".into(),
                family: Family::Dinov2,
                patch_size: 14,
                depth: 12,
                embed_dim: 384,
                native_size: 518,
                paper_model: None,
            };
            propagation::run(&cfg, &tokens)?
        }
        None => {
            let model = ModelSpec::zoo("dinov2_vits14")?.load(
                &ModelSource::Weights {
                    path: weights,
                    part: None,
                },
                &Device::flex(),
            )?;
            let inner = ModelTokens::new(&model, None, 1);
            let rec = Recording {
                inner: &inner,
                out: out.clone(),
                written: RefCell::new(0),
            };
            let r = propagation::run(&cfg, &rec)?;
            println!("wrote the tokens of {} frames", rec.written.borrow());
            r
        }
    };

    let mut scores = serde_json::Map::new();
    for s in &result.sequences {
        println!(
            "{:<16} {:>3} frames  J {:.4}  F {:.4}  J&F {:.4}",
            s.name, s.frames, s.summary.j_mean, s.summary.f_mean, s.summary.jf_mean
        );
        let objects: Vec<_> = s
            .objects
            .iter()
            .map(|o| serde_json::json!({"name": o.name, "j": o.j, "f": o.f}))
            .collect();
        scores.insert(
            s.name.clone(),
            serde_json::json!({"j": s.summary.j_mean, "f": s.summary.f_mean,
                "jf": s.summary.jf_mean, "frames": s.frames, "objects": objects}),
        );
    }
    let m = &result.summary;
    println!(
        "mean over {} objects: J {:.4}  F {:.4}  J&F {:.4}",
        m.objects, m.j_mean, m.f_mean, m.jf_mean
    );
    write_json(&out.join("scores.json"), &serde_json::Value::Object(scores))
}

fn write_json(path: &Path, v: &serde_json::Value) -> patchlens_eval::Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    patchlens_store::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Score the masks under `dir` (DAVIS 2016 ground truth of `root`) and print J, F, J&F per sequence.
fn score(
    root: &Path,
    dir: &Path,
    sequences: &[String],
    max_frames: Option<usize>,
) -> patchlens_eval::Result<()> {
    use patchlens_data::davis::{self, DavisVersion};
    use patchlens_metrics::{DEFAULT_BOUND_TH, DavisSummary, LabelMap};
    let data = davis::open(root, DavisVersion::Davis2016, None)?;
    for seq in &data.sequences {
        if !sequences.is_empty() && !sequences.contains(&seq.name) {
            continue;
        }
        let n = max_frames.map_or(seq.frames.len(), |m| m.min(seq.frames.len()));
        let (mut gt, mut pred) = (Vec::new(), Vec::new());
        for i in 0..n {
            let f = data.load_frame(seq, i)?;
            gt.push(LabelMap::from_u8(
                f.mask.width,
                f.mask.height,
                &f.mask.data,
            )?);
            let p = patchlens_image::decode_label(
                &dir.join(&seq.name).join(format!("{}.png", f.frame)),
            )?;
            let ids: Vec<u8> = p.data.iter().map(|&v| u8::from(v > 0)).collect();
            pred.push(LabelMap::from_u8(p.width, p.height, &ids)?);
        }
        let objects = patchlens_metrics::evaluate_semisupervised_sequence(
            &seq.name,
            &gt,
            &pred,
            DEFAULT_BOUND_TH,
        )?;
        let s = DavisSummary::from_objects(&objects);
        println!(
            "{:<16} {:>3} frames  J {:.4}  F {:.4}  J&F {:.4}",
            seq.name, n, s.j_mean, s.f_mean, s.jf_mean
        );
    }
    Ok(())
}
