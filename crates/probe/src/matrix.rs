//! Plain row-major feature matrices: a borrowed view ([`MatRef`]) and an owned buffer ([`Matrix`]).
//!
//! Both store `rows × cols` `f32` values in row-major order: value `(r, c)` is at `r * cols + c`.
//! A row is one sample (one patch), a column one feature dimension.

use crate::error::{ProbeError, Result};
use serde::{Deserialize, Serialize};

/// A borrowed row-major matrix of shape `[rows, cols]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
}

impl<'a> MatRef<'a> {
    /// Wraps `data` (row-major, length `rows * cols`) as a matrix.
    ///
    /// # Errors
    /// [`ProbeError::BufferLength`] when `data.len() != rows * cols` (the `name` is `"matrix"`;
    /// use [`MatRef::named`] to get a specific name in the error).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        Self::named("matrix", data, rows, cols)
    }

    /// Like [`MatRef::new`], with `name` used in the error message.
    ///
    /// # Errors
    /// [`ProbeError::BufferLength`] when `data.len() != rows * cols`.
    pub fn named(name: &'static str, data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        match rows.checked_mul(cols) {
            Some(n) if n == data.len() => Ok(Self { data, rows, cols }),
            _ => Err(ProbeError::BufferLength {
                name,
                len: data.len(),
                rows,
                cols,
            }),
        }
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (feature dimension).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The whole row-major buffer, length `rows * cols`.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Row `r` as a slice of length `cols`.
    ///
    /// # Panics
    /// When `r >= rows` (an indexing bug in the caller, not bad input).
    pub fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Rows `start..end` as a matrix view.
    ///
    /// # Panics
    /// When the range is out of bounds.
    pub fn slice_rows(&self, start: usize, end: usize) -> MatRef<'a> {
        MatRef {
            data: &self.data[start * self.cols..end * self.cols],
            rows: end - start,
            cols: self.cols,
        }
    }

    /// Copies the view into an owned [`Matrix`].
    pub fn to_owned(&self) -> Matrix {
        Matrix {
            data: self.data.to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Errors when the matrix has no rows or no columns.
    ///
    /// # Errors
    /// [`ProbeError::Empty`].
    pub fn require_non_empty(&self, name: &'static str) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(ProbeError::Empty {
                name,
                rows: self.rows,
                cols: self.cols,
            });
        }
        Ok(())
    }

    /// Errors on the first NaN or infinity (scanning row-major).
    ///
    /// # Errors
    /// [`ProbeError::NonFinite`] naming the row and column.
    pub fn require_finite(&self, name: &'static str) -> Result<()> {
        // Fast path: a sum over a chunk is finite only if every element is finite, or if
        // infinities cancel into NaN (still non-finite); so a finite chunk sum proves finiteness
        // only when no overflow occurred. Use `is_finite` per element instead; it vectorises.
        if self.data.iter().all(|v| v.is_finite()) {
            return Ok(());
        }
        let pos = self
            .data
            .iter()
            .position(|v| !v.is_finite())
            .unwrap_or_default();
        Err(ProbeError::NonFinite {
            name,
            row: pos / self.cols.max(1),
            col: pos % self.cols.max(1),
            value: self.data[pos],
        })
    }
}

/// An owned row-major matrix of shape `[rows, cols]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Matrix {
    /// Takes ownership of `data` (row-major, length `rows * cols`).
    ///
    /// # Errors
    /// [`ProbeError::BufferLength`] when the length does not match.
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        MatRef::new(&data, rows, cols)?;
        Ok(Self { data, rows, cols })
    }

    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            data: vec![0.0; rows * cols],
            rows,
            cols,
        }
    }

    /// Borrowed view.
    pub fn view(&self) -> MatRef<'_> {
        MatRef {
            data: &self.data,
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row-major buffer.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable row-major buffer.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Row `r`.
    ///
    /// # Panics
    /// When `r >= rows`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Gives back the row-major buffer.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

impl<'a> From<&'a Matrix> for MatRef<'a> {
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}
