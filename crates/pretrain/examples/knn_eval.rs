//! 1-NN patch classification of held-out synthetic scenes with the shipped checkpoints and with
//! random-init backbones of the same architectures, on 4 × 4 tiles of 56 px of each 224 scene resized to
//! the 64-pixel input (the demo's evaluation geometry):
//!
//! Then image-level 1-NN of the CLS token on the dominant object class of random crops (the objective DINO
//! and supervised training optimise at the image level).
//!
//! ```text
//! cargo run -p patchlens-pretrain --example knn_eval -- [--dir fixtures/pretrained] [--ref 24] [--query 12]
//! ```

use burn::tensor::Device;
use patchlens_pretrain::eval::{KnnResult, crop_set, eval_set, image_knn, patch_knn};
use patchlens_pretrain::{Method, load_pretrained, presets, random_backbone};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let dir = std::path::PathBuf::from(get("--dir", "fixtures/pretrained"));
    let n_ref: usize = get("--ref", "24").parse()?;
    let n_query: usize = get("--query", "12").parse()?;
    let preset = presets::tiny();
    let device = Device::flex();
    // Held-out scenes: after the training pool; 4 × 4 tiles of 56 px per 224 scene, each resized to 64
    // (the demo's evaluation geometry).
    let start = preset.train_scenes + 100_000;
    let reference = eval_set(&preset, start..start + n_ref, 4)?;
    let query = eval_set(&preset, start + n_ref..start + n_ref + n_query, 4)?;
    println!(
        "| model | layer | 1-NN accuracy | balanced accuracy | foreground accuracy | majority baseline |"
    );
    println!("|---|---|---|---|---|---|");
    // Every model once: the trained checkpoint (when present) and the random baseline of each method.
    let mut models = Vec::new();
    for method in Method::ALL {
        let path = dir.join(format!("{}_tiny.safetensors", method.name()));
        if path.exists() {
            models.push((
                method.name().to_string(),
                load_pretrained(&path, method, "tiny", &device)?,
            ));
        } else {
            eprintln!("missing {}", path.display());
        }
        models.push((
            format!("random ({} arch)", method.name()),
            random_backbone(method, "tiny", 0, &device)?,
        ));
    }
    for (name, vit) in &models {
        let depth = vit.config.depth;
        for layer in [depth / 2, depth] {
            row(name, layer, &patch_knn(vit, &reference, &query, layer)?);
        }
    }
    // Image level: the CLS token (last layer, final norm) of random crops of held-out scenes (the
    // supervised objective's crop distribution), 1-NN on their dominant object class.
    let scale = presets::TINY_CROP_SCALE;
    let crops_ref = crop_set(&preset, start..start + n_ref, 16, scale, 1)?;
    let crops_query = crop_set(
        &preset,
        start + n_ref..start + n_ref + n_query,
        16,
        scale,
        2,
    )?;
    println!();
    println!("| model | image-level 1-NN (CLS) | balanced |");
    println!("|---|---|---|");
    for (name, vit) in models.iter().filter(|(_, v)| v.config.cls_token) {
        let (acc, bal) = image_knn(vit, &crops_ref, &crops_query, vit.config.depth)?;
        println!("| {name} | {acc:.3} | {bal:.3} |");
    }
    Ok(())
}

fn row(name: &str, layer: usize, r: &KnnResult) {
    println!(
        "| {name} | {layer} | {:.3} | {:.3} | {:.3} | {:.3} |",
        r.accuracy, r.balanced_accuracy, r.foreground_accuracy, r.majority_baseline
    );
}
