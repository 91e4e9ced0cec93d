//! patchlens-track.
