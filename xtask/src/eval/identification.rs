//! `cargo xtask eval identification` (being implemented).

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `eval identification`.
#[derive(Args, Debug)]
pub struct IdentificationArgs {}

/// Run `eval identification`.
pub fn run(_args: &IdentificationArgs) -> Result<()> {
    bail!("eval identification is not implemented yet")
}
