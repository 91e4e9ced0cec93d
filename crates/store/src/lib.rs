//! patchlens-store.
