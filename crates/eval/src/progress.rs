//! Progress of the long loops (images encoded, frames propagated, sweep points): a bar with ETA on a
//! terminal ([`indicatif`]), plain `tracing` lines everywhere else (a log file, a cluster job), never
//! carriage returns.
//!
//! Bars are drawn on stderr through one [`indicatif::MultiProgress`]; a program that also logs to stderr
//! writes through [`StderrWriter`] so that its lines appear above the bars instead of through them. Bars
//! are off when stderr is not a terminal or when the global `tracing` level is below INFO (`--quiet`).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::level_filters::LevelFilter;

fn multi() -> &'static MultiProgress {
    static M: OnceLock<MultiProgress> = OnceLock::new();
    M.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Whether bars are drawn: stderr is a terminal and INFO is enabled.
fn bars_enabled() -> bool {
    std::io::stderr().is_terminal() && LevelFilter::current() >= LevelFilter::INFO
}

/// Minimum time between two plain progress lines of one loop.
const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// Progress of one loop of `total` items.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: u64,
    start: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    /// A loop over `total` items described by `label` (e.g. `encoding train48`).
    pub fn new(label: impl Into<String>, total: usize) -> Progress {
        let label = label.into();
        let bar = bars_enabled().then(|| {
            let b = multi().add(ProgressBar::new(total as u64));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, ETA {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(label.clone());
            b
        });
        Progress {
            bar,
            label,
            total: total as u64,
            done: 0,
            start: Instant::now(),
            last_line: None,
        }
    }

    /// A transfer of `total` bytes (unknown: `None`), shown with sizes and rate.
    pub fn bytes(label: impl Into<String>, total: Option<u64>) -> Progress {
        let label = label.into();
        let bar = bars_enabled().then(|| {
            let b = multi().add(match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            });
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(label.clone());
            b
        });
        Progress {
            bar,
            label,
            total: total.unwrap_or(0),
            done: 0,
            start: Instant::now(),
            last_line: None,
        }
    }

    /// The transfer is at `pos` bytes.
    pub fn set_position(&mut self, pos: u64) {
        self.done = pos;
        match &self.bar {
            Some(b) => b.set_position(pos),
            None => {
                let now = Instant::now();
                if self
                    .last_line
                    .is_none_or(|t| now.duration_since(t) >= LINE_INTERVAL)
                {
                    self.last_line = Some(now);
                    let secs = self.start.elapsed().as_secs_f64().max(1e-3);
                    tracing::info!(
                        "{} {:.1}/{} MB ({:.1} MB/s)",
                        self.label,
                        pos as f64 / 1e6,
                        if self.total > 0 {
                            format!("{:.1}", self.total as f64 / 1e6)
                        } else {
                            "?".into()
                        },
                        pos as f64 / 1e6 / secs
                    );
                }
            }
        }
    }

    /// One more item done; `item` names it (an image id, a frame).
    pub fn inc(&mut self, item: &str) {
        self.done += 1;
        match &self.bar {
            Some(b) => {
                b.set_message(item.to_string());
                b.inc(1);
            }
            None => {
                // Plain lines: the first item, then at most one line every LINE_INTERVAL, and the last.
                let now = Instant::now();
                let due = self
                    .last_line
                    .is_none_or(|t| now.duration_since(t) >= LINE_INTERVAL);
                if due || self.done == self.total {
                    self.last_line = Some(now);
                    tracing::info!(
                        "{} {}/{} {item} ({:.1} s)",
                        self.label,
                        self.done,
                        self.total,
                        self.start.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
            multi().remove(&b);
        }
    }
}

/// Writes to stderr above the progress bars (use as the `tracing` writer of a program that shows bars).
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        multi().suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
