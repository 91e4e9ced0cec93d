//! patchlens-report.
