//! patchlens-probe.
