//! `cargo xtask eval propagation` (being implemented).

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `eval propagation`.
#[derive(Args, Debug)]
pub struct PropagationArgs {}

/// Run `eval propagation`.
pub fn run(_args: &PropagationArgs) -> Result<()> {
    bail!("eval propagation is not implemented yet")
}
