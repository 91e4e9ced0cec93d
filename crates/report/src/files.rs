//! Writing files (a leaf module shared by the schema and the renderer).

use crate::error::ReportError;
use std::path::Path;

/// Writes `bytes` to `path` atomically with [`patchlens_store::write_atomic`] (exclusive temporary
/// file in the same directory, fsync, rename; parent directories created), mapping its error to
/// [`ReportError::Io`] naming the file that failed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    patchlens_store::write_atomic(path, bytes)
        .map_err(|(path, source)| ReportError::Io { path, source })
}
