//! The crate's error type.

/// Everything that can go wrong in `patchlens-track`. Every variant names the offending value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrackError {
    /// A buffer does not have the length its declared shape implies.
    #[error("{what}: expected {expected} values for shape {shape}, got {got}")]
    ShapeMismatch {
        /// What the buffer is (e.g. "feature map", "tile 3").
        what: String,
        /// The declared shape, human-readable (e.g. "[42, 70, 768]").
        shape: String,
        /// Expected number of values.
        expected: usize,
        /// Actual number of values.
        got: usize,
    },
    /// A dimension that must be positive is zero.
    #[error("{what} must be positive, got 0")]
    ZeroDimension {
        /// Which dimension.
        what: String,
    },
    /// Two inputs that must agree in some dimension do not.
    #[error("{what}: {left} != {right}")]
    DimensionMismatch {
        /// What is compared (e.g. "feature dim of frame 3 vs frame 0").
        what: String,
        /// The first value.
        left: usize,
        /// The second value.
        right: usize,
    },
    /// A value is NaN or infinite where a finite one is required.
    #[error("{what} contains a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// Which input.
        what: String,
        /// Flat index of the offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An invalid configuration value.
    #[error("invalid configuration: {key} = {value}: {reason}")]
    InvalidConfig {
        /// The option name.
        key: String,
        /// The given value, formatted.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The same track id occurs twice in one frame.
    #[error("frame {frame}: track id {id:?} occurs more than once")]
    DuplicateId {
        /// Frame index within the current video (0-based).
        frame: usize,
        /// The repeated id.
        id: String,
    },
    /// The number of tiles does not match the tile layout.
    #[error("tile layout {tiles_down}x{tiles_across} needs {expected} tiles, got {got}")]
    TileCount {
        /// Tiles per column.
        tiles_down: usize,
        /// Tiles per row.
        tiles_across: usize,
        /// `tiles_down * tiles_across`.
        expected: usize,
        /// Tiles given.
        got: usize,
    },
    /// A label map holds an id above the largest one supported.
    #[error("{what}: label {value} is above the largest supported object id {max}")]
    LabelOutOfRange {
        /// Which label map.
        what: String,
        /// The offending id.
        value: u16,
        /// The largest supported id.
        max: u16,
    },
    /// A size that must be a multiple of another is not.
    #[error("{what}: {value} is not a multiple of {divisor}")]
    NotMultiple {
        /// What is checked.
        what: String,
        /// The value.
        value: usize,
        /// The required divisor.
        divisor: usize,
    },
}

/// Shorthand for `Result<T, TrackError>`.
pub type Result<T> = std::result::Result<T, TrackError>;

/// Check that `data` has `expected` values, else [`TrackError::ShapeMismatch`].
pub(crate) fn check_len(what: &str, shape: &[usize], expected: usize, got: usize) -> Result<()> {
    if expected != got {
        return Err(TrackError::ShapeMismatch {
            what: what.to_string(),
            shape: format!("{shape:?}"),
            expected,
            got,
        });
    }
    Ok(())
}

/// Check that every value of `data` is finite, else [`TrackError::NonFinite`].
pub(crate) fn check_finite(what: &str, data: &[f32]) -> Result<()> {
    if let Some((index, v)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(TrackError::NonFinite {
            what: what.to_string(),
            index,
            value: f64::from(*v),
        });
    }
    Ok(())
}

/// Check that `v > 0`, else [`TrackError::ZeroDimension`].
pub(crate) fn check_positive(what: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(TrackError::ZeroDimension {
            what: what.to_string(),
        });
    }
    Ok(())
}
