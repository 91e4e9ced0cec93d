//! Train one tiny model (what `cargo xtask pretrain` will call):
//!
//! ```text
//! cargo run -p patchlens-pretrain --example pretrain -- --method dino [--preset tiny] [--steps N]
//!     [--seed S] [--f16] --out fixtures/pretrained/dino_tiny.safetensors
//! ```
//!
//! Prints the `PretrainReport` as JSON.

use burn::tensor::Device;
use patchlens_pretrain::{ExportDtype, Method, PretrainOptions, pretrain};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let method = Method::parse(&get("--method").ok_or("--method is required")?)?;
    let out = get("--out").ok_or("--out is required")?;
    let mut opts = PretrainOptions::new(method, out, Device::flex());
    if let Some(p) = get("--preset") {
        opts.preset = p;
    }
    if let Some(s) = get("--steps") {
        opts.steps = Some(s.parse()?);
    }
    if let Some(s) = get("--seed") {
        opts.seed = s.parse()?;
    }
    if args.iter().any(|a| a == "--f16") {
        opts.dtype = ExportDtype::F16;
    }
    let report = pretrain(&opts)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
