//! `cargo xtask eval variance` (being implemented).

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `eval variance`.
#[derive(Args, Debug)]
pub struct VarianceArgs {}

/// Run `eval variance`.
pub fn run(_args: &VarianceArgs) -> Result<()> {
    bail!("eval variance is not implemented yet")
}
