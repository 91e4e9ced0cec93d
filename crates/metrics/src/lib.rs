//! patchlens-metrics.
