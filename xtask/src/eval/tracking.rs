//! `cargo xtask eval tracking` (being implemented).

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `eval tracking`.
#[derive(Args, Debug)]
pub struct TrackingArgs {}

/// Run `eval tracking`.
pub fn run(_args: &TrackingArgs) -> Result<()> {
    bail!("eval tracking is not implemented yet")
}
