//! The crate's error type.

/// Everything that can go wrong in `patchlens-probe`.
///
/// Every variant names the offending argument (`name`) and the value that was rejected, so that
/// callers can report the problem without extra context.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A flat buffer does not hold `rows × cols` values.
    #[error("{name}: buffer holds {len} values, expected rows × cols = {rows} × {cols}")]
    BufferLength {
        /// Which argument (e.g. `"gallery"`).
        name: &'static str,
        /// Length of the buffer that was passed.
        len: usize,
        /// Declared number of rows.
        rows: usize,
        /// Declared number of columns.
        cols: usize,
    },
    /// A matrix with zero rows or zero columns where a non-empty one is required.
    #[error("{name}: matrix is empty ({rows} × {cols})")]
    Empty {
        /// Which argument.
        name: &'static str,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// A NaN or infinity in an input matrix.
    #[error("{name}: non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Which argument.
        name: &'static str,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value itself.
        value: f32,
    },
    /// Two matrices that must share their feature dimension do not.
    #[error("dimension mismatch: {a} has {a_cols} columns but {b} has {b_cols}")]
    DimMismatch {
        /// First argument.
        a: &'static str,
        /// Its number of columns.
        a_cols: usize,
        /// Second argument.
        b: &'static str,
        /// Its number of columns.
        b_cols: usize,
    },
    /// A label array whose length differs from the number of feature rows.
    #[error("{name}: {labels} labels for {rows} feature rows")]
    LabelCount {
        /// Which argument.
        name: &'static str,
        /// Number of labels.
        labels: usize,
        /// Number of feature rows.
        rows: usize,
    },
    /// A label outside `0..n_classes` (and not the ignore label, where one is allowed).
    #[error("{name}: label {label} at row {row} is outside 0..{n_classes}")]
    LabelRange {
        /// Which argument.
        name: &'static str,
        /// Row of the label.
        row: usize,
        /// The label.
        label: u32,
        /// Number of classes.
        n_classes: usize,
    },
    /// A parameter outside its valid range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What is required.
        reason: &'static str,
    },
    /// The memory budget cannot hold even the smallest block.
    #[error("memory budget of {budget} bytes is too small: at least {needed} bytes are needed")]
    BudgetTooSmall {
        /// The budget that was given.
        budget: usize,
        /// The smallest budget that works for these shapes.
        needed: usize,
    },
    /// A similarity became non-finite during the search (overflow of a dot product), so the
    /// neighbour list of this query could not be filled.
    #[error("query {query}: similarities overflowed; fewer than k finite neighbours found")]
    NonFiniteScore {
        /// Query row.
        query: usize,
    },
    /// Every training sample carried the ignore label (or the training pool was empty).
    #[error("{name}: no samples left after dropping the ignore label {ignore:?}")]
    NoSamples {
        /// Which argument.
        name: &'static str,
        /// The ignore label in force.
        ignore: Option<u32>,
    },
    /// A numerical routine failed (e.g. the eigen-solver did not converge).
    #[error("numerical failure in {what}: {detail}")]
    Numerical {
        /// The routine.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// An error reported by the burn backend.
    #[error("burn backend: {0}")]
    Backend(String),
}

/// Shorthand for `Result<T, ProbeError>`.
pub type Result<T> = std::result::Result<T, ProbeError>;
