//! patchlens-vit.
