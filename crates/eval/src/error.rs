//! The crate's error type, [`EvalError`], and the helpers that build it.
//!
//! Every error of the crates below (`patchlens-data`, `-vit`, `-probe`, …) converts into an
//! [`EvalError`] with `?`; [`Context`] adds what was being done (`reading X`, `experiment a1`) as a
//! new link of the chain. A message never repeats its cause: a context's text is its own, and the
//! cause is reached through [`std::error::Error::source`] (print the chain with `{:#}` in anyhow, or
//! with [`chain`]).

use std::fmt::Display;
use std::path::PathBuf;

/// What went wrong in an experiment, a suite or a model definition.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A plain message (the error itself, no cause).
    #[error("{0}")]
    Msg(String),
    /// What was being done when `source` happened.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: Box<EvalError>,
    },
    /// A configuration value that does not pass validation: names the document, the field and why.
    #[error("{what}: `{field}` {message}")]
    Invalid {
        /// The document or object (`suite suites/paper.toml, experiment a1`, `segmentation config`).
        what: String,
        /// The field (dotted path).
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A file could not be read or written.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error without a file name (the context names it).
    #[error(transparent)]
    IoBare(#[from] std::io::Error),
    /// Dataset readers.
    #[error(transparent)]
    Data(#[from] patchlens_data::DataError),
    /// Image operations.
    #[error(transparent)]
    Image(#[from] patchlens_image::ImageError),
    /// Backbones and checkpoints.
    #[error(transparent)]
    Vit(#[from] patchlens_vit::VitError),
    /// Probes and feature transforms.
    #[error(transparent)]
    Probe(#[from] patchlens_probe::ProbeError),
    /// Metrics.
    #[error(transparent)]
    Metrics(#[from] patchlens_metrics::MetricsError),
    /// Tracking.
    #[error(transparent)]
    Track(#[from] patchlens_track::TrackError),
    /// The feature cache.
    #[error(transparent)]
    Store(#[from] patchlens_store::StoreError),
    /// Results and reports.
    #[error(transparent)]
    Report(#[from] patchlens_report::ReportError),
    /// Weights downloads (boxed: the largest cause, it would make every `Result` of the crate larger).
    #[error(transparent)]
    Fetch(Box<crate::weights::FetchError>),
    /// JSON (de)serialisation.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// TOML parsing.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// A safetensors file.
    #[error(transparent)]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// A number that does not parse.
    #[error(transparent)]
    ParseInt(#[from] std::num::ParseIntError),
}

/// `Result<T, EvalError>`.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

impl EvalError {
    /// A plain message.
    pub fn msg(m: impl Display) -> Self {
        EvalError::Msg(m.to_string())
    }

    /// A validation error naming `what` (the document), the `field` and the `message`.
    pub fn invalid(what: impl Display, field: impl Display, message: impl Display) -> Self {
        EvalError::Invalid {
            what: what.to_string(),
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    /// This error with `context` put in front (a new link of the chain).
    pub fn context(self, context: impl Display) -> Self {
        EvalError::Context {
            context: context.to_string(),
            source: Box::new(self),
        }
    }
}

impl From<crate::weights::FetchError> for EvalError {
    fn from(e: crate::weights::FetchError) -> Self {
        EvalError::Fetch(Box::new(e))
    }
}

impl From<(PathBuf, std::io::Error)> for EvalError {
    /// The error of [`patchlens_store::write_atomic`]: the file and the cause.
    fn from((path, source): (PathBuf, std::io::Error)) -> Self {
        EvalError::Io { path, source }
    }
}

/// Adds what was being done to an error (or turns a missing value into one).
pub trait Context<T> {
    /// Put `context` in front of the error.
    fn context(self, context: impl Display) -> Result<T>;
    /// Put the context made by `f` in front of the error (`f` runs only on error).
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<EvalError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| EvalError::msg(context))
    }

    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| EvalError::msg(f()))
    }
}

/// The error's chain, one cause after another, joined by `: ` (what anyhow prints with `{:#}`).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Return early with an [`EvalError::Msg`] made by `format!`.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::error::EvalError::Msg(format!($($t)*)))
    };
}

/// [`bail!`] unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($t:tt)*) => {
        if !$cond {
            $crate::error::bail!($($t)*);
        }
    };
}

/// An [`EvalError::Msg`] made by `format!`.
macro_rules! err {
    ($($t:tt)*) => {
        $crate::error::EvalError::Msg(format!($($t)*))
    };
}

pub(crate) use {bail, ensure, err};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_stack_without_repeating_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "unexpected end of file");
        let r: Result<()> = Err(io).context("reading a.png");
        let e = r.context("experiment a1").unwrap_err();
        assert_eq!(
            chain(&e),
            "experiment a1: reading a.png: unexpected end of file"
        );
        let none: Result<u8> = None.context("no layer 13");
        assert_eq!(none.unwrap_err().to_string(), "no layer 13");
    }
}
