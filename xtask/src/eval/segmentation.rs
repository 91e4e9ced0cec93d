//! `cargo xtask eval segmentation` (being implemented).

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `eval segmentation`.
#[derive(Args, Debug)]
pub struct SegmentationArgs {}

/// Run `eval segmentation`.
pub fn run(_args: &SegmentationArgs) -> Result<()> {
    bail!("eval segmentation is not implemented yet")
}
