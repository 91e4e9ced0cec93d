//! Renders an existing `results.json` into a folder (`results.csv`, `report.md`, `report.html`,
//! `plots/`), e.g. to look at a run's report after a change to the renderer:
//! `cargo run -p patchlens-report --example render_results -- RESULTS.json OUT_DIR`.
//! Relative image paths are resolved against the folder of `RESULTS.json`.

use patchlens_report::{Report, ReportError, Results};
use std::path::PathBuf;

fn main() -> Result<(), ReportError> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: render_results RESULTS.json OUT_DIR");
        std::process::exit(2);
    };
    let input = PathBuf::from(input);
    let results = Results::load(&input)?;
    let base = input
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let files = Report::build(&results, base)?.write(&out)?;
    println!(
        "{} experiments -> {}",
        results.experiments.len(),
        files.html.display()
    );
    Ok(())
}
