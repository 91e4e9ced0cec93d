//! patchlens-data.
