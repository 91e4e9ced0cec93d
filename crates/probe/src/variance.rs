//! High-variance feature analysis (protocol §6) and its alternatives, behind one sweep API.
//!
//! Procedure of the paper (§6.1): compute the **population variance** (ddof = 0, like
//! `np.var`) of every feature dimension over the **gallery / training patches**, sort the
//! dimensions by variance **descending**, and **delete** (not zero) the top-N columns from both
//! gallery and queries before re-running the probe. [`CITYSCAPES_REMOVAL_SWEEP`] is the N sweep.
//!
//! All statistics are fitted on the gallery / training matrix only and then applied unchanged to
//! the queries. Accumulation is in `f64`; a fixed row-chunking makes the result independent of
//! the thread count.
//!
//! Transforms ([`FeatureTransform`]):
//! - [`FeatureTransform::Identity`];
//! - [`FeatureTransform::RemoveTopVariance`]: the paper's deletion;
//! - [`FeatureTransform::BatchNorm`]: `(x − μ) / sqrt(σ² + ε)` with the gallery mean and
//!   population variance: `BatchNorm1d(affine = False)` in eval mode whose running statistics
//!   equal the gallery statistics (§6.3 uses the running statistics of a trained probe instead;
//!   build that with [`FittedTransform::batch_norm_from_stats`]);
//! - [`FeatureTransform::Standardize`]: `(x − μ) / σ`; constant columns (σ = 0) are only centred;
//! - [`FeatureTransform::Whiten`]: PCA- or ZCA-whitening with a regulariser ε (see [`Whitening`]);
//! - [`FeatureTransform::Pca`]: projection on the top-k principal components (centred, not
//!   scaled).

use crate::eigen::sym_eigen;
use crate::error::{ProbeError, Result};
use crate::matrix::{MatRef, Matrix};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The paper's N sweep for Cityscapes (protocol §6.1 step 4), out of 768 dimensions.
pub const CITYSCAPES_REMOVAL_SWEEP: [usize; 11] = [0, 10, 20, 30, 40, 50, 100, 200, 400, 600, 750];

/// The paper's N sweep for iBOT (protocol §6.1 step 4).
pub const IBOT_REMOVAL_SWEEP: [usize; 13] =
    [0, 10, 20, 30, 40, 50, 70, 100, 150, 200, 300, 400, 500];

/// The headline setting, "MAE-200" (protocol §6.1 step 4).
pub const HEADLINE_REMOVAL: usize = 200;

/// `ε` of the BatchNorm-normalised variant by default (PyTorch's `BatchNorm1d` default).
pub const BATCH_NORM_EPS: f64 = 1e-5;

/// Rows per chunk for the `f64` partial sums (fixed, so results do not depend on threads).
const CHUNK_ROWS: usize = 4096;

/// Per-column mean and population variance of a matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Number of rows the statistics were computed over.
    pub n: usize,
    /// Mean per column (length `cols`).
    pub mean: Vec<f64>,
    /// Population variance (ddof = 0) per column (length `cols`).
    pub variance: Vec<f64>,
}

/// Mean and population variance (ddof = 0) of every column, two-pass in `f64`.
///
/// # Errors
/// [`ProbeError::Empty`] for a matrix without rows or columns; [`ProbeError::NonFinite`].
pub fn column_stats(m: MatRef<'_>) -> Result<ColumnStats> {
    m.require_non_empty("features")?;
    m.require_finite("features")?;
    let d = m.cols();
    let n = m.rows();
    let sums = chunked_sum(m, |row, acc| {
        for (a, &x) in acc.iter_mut().zip(row) {
            *a += x as f64;
        }
    });
    let mean: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
    let sq = chunked_sum(m, |row, acc| {
        for ((a, &x), &mu) in acc.iter_mut().zip(row).zip(&mean) {
            let c = x as f64 - mu;
            *a += c * c;
        }
    });
    let variance = sq.iter().map(|s| s / n as f64).collect();
    let _ = d;
    Ok(ColumnStats { n, mean, variance })
}

/// Sums `f(row, acc)` over row chunks in parallel, then adds the chunk results in order.
fn chunked_sum(m: MatRef<'_>, f: impl Fn(&[f32], &mut [f64]) + Sync) -> Vec<f64> {
    let d = m.cols();
    let parts: Vec<Vec<f64>> = m
        .data()
        .par_chunks(CHUNK_ROWS * d)
        .map(|chunk| {
            let mut acc = vec![0.0f64; d];
            for row in chunk.chunks(d) {
                f(row, &mut acc);
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f64; d];
    for p in parts {
        for (t, x) in total.iter_mut().zip(p) {
            *t += x;
        }
    }
    total
}

/// The sorted per-dimension variance spectrum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarianceSpectrum {
    /// Column statistics it was computed from.
    pub stats: ColumnStats,
    /// Column indices sorted by variance, descending (equal variances: lower index first).
    pub order: Vec<usize>,
    /// `stats.variance[order[i]]`, i.e. the spectrum in descending order.
    pub sorted: Vec<f64>,
}

/// Computes the variance spectrum of the gallery / training patches `m` (`[n, dim]`).
///
/// # Errors
/// As [`column_stats`].
pub fn variance_spectrum(m: MatRef<'_>) -> Result<VarianceSpectrum> {
    Ok(spectrum_from_stats(column_stats(m)?))
}

/// Builds the spectrum from already computed statistics.
pub fn spectrum_from_stats(stats: ColumnStats) -> VarianceSpectrum {
    let mut order: Vec<usize> = (0..stats.variance.len()).collect();
    order.sort_by(|&i, &j| {
        stats.variance[j]
            .total_cmp(&stats.variance[i])
            .then(i.cmp(&j))
    });
    let sorted = order.iter().map(|&i| stats.variance[i]).collect();
    VarianceSpectrum {
        stats,
        order,
        sorted,
    }
}

impl VarianceSpectrum {
    /// The `n` highest-variance column indices (`n` clamped to the dimension), sorted
    /// ascending (the order in which they are deleted does not matter).
    pub fn top(&self, n: usize) -> Vec<usize> {
        let mut v = self.order[..n.min(self.order.len())].to_vec();
        v.sort_unstable();
        v
    }
}

/// Clamps a removal sweep to `dim` (protocol: "N clamped to dim") and drops repeated values,
/// keeping the order. E.g. `[0, 10, 400, 600, 750]` at `dim = 384` gives `[0, 10, 384]`.
pub fn clamp_sweep(sweep: &[usize], dim: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(sweep.len());
    for &n in sweep {
        let n = n.min(dim);
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Copies `m` without the columns in `remove` (indices `< cols`; duplicates allowed).
///
/// # Errors
/// [`ProbeError::InvalidParam`] for an index `>= cols`.
pub fn delete_columns(m: MatRef<'_>, remove: &[usize]) -> Result<Matrix> {
    let d = m.cols();
    let mut keep = vec![true; d];
    for &c in remove {
        if c >= d {
            return Err(ProbeError::InvalidParam {
                name: "remove",
                value: c.to_string(),
                reason: "column index must be < cols",
            });
        }
        keep[c] = false;
    }
    let kept: Vec<usize> = (0..d).filter(|&c| keep[c]).collect();
    Ok(select_columns(m, &kept))
}

fn select_columns(m: MatRef<'_>, kept: &[usize]) -> Matrix {
    let dk = kept.len();
    let mut data = vec![0.0f32; m.rows() * dk];
    if dk > 0 {
        data.par_chunks_mut(dk)
            .zip(m.data().par_chunks(m.cols()))
            .for_each(|(out, row)| {
                for (o, &c) in out.iter_mut().zip(kept) {
                    *o = row[c];
                }
            });
    }
    Matrix::new(data, m.rows(), dk).expect("shape is consistent by construction")
}

/// PCA- or ZCA-whitening. With the gallery covariance `C = U Λ Uᵀ` (ddof = 0, eigenvalues
/// descending):
/// - PCA: `x ↦ (Λ + ε)^{-1/2} Uᵀ (x − μ)`: coordinates along the principal axes, in
///   descending-variance order, each scaled to unit variance;
/// - ZCA: `x ↦ U (Λ + ε)^{-1/2} Uᵀ (x − μ)`: the whitened vector rotated back to the original
///   axes (the whitening closest to the identity).
///
/// `ε > 0` keeps near-zero eigenvalues from blowing up; with `ε ≪ λ_min` the whitened gallery
/// covariance is the identity (`λ / (λ + ε)` on the diagonal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Whitening {
    /// PCA-whitening.
    Pca,
    /// ZCA (Mahalanobis) whitening.
    Zca,
}

/// One point of a feature-transform sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum FeatureTransform {
    /// Features unchanged.
    Identity,
    /// Delete the `n` highest-variance columns (clamped to the dimension).
    RemoveTopVariance {
        /// Number of columns to delete.
        n: usize,
    },
    /// `(x − μ) / sqrt(σ² + eps)` with gallery statistics (BatchNorm1d(affine = False), eval).
    BatchNorm {
        /// The ε ([`BATCH_NORM_EPS`] by default).
        eps: f64,
    },
    /// `(x − μ) / σ` with gallery statistics; constant columns are only centred.
    Standardize,
    /// Whitening of the gallery covariance.
    Whiten {
        /// PCA or ZCA.
        kind: Whitening,
        /// Regulariser added to each eigenvalue.
        eps: f64,
    },
    /// Projection on the top `k` principal components (`k` clamped to the dimension).
    Pca {
        /// Number of components kept.
        k: usize,
    },
}

impl FeatureTransform {
    /// The removal sweep as transforms: `RemoveTopVariance { n }` for each `n` of
    /// [`clamp_sweep`]`(sweep, dim)`.
    pub fn removal_sweep(sweep: &[usize], dim: usize) -> Vec<FeatureTransform> {
        clamp_sweep(sweep, dim)
            .into_iter()
            .map(|n| FeatureTransform::RemoveTopVariance { n })
            .collect()
    }

    fn needs_eigen(&self) -> bool {
        matches!(
            self,
            FeatureTransform::Whiten { .. } | FeatureTransform::Pca { .. }
        )
    }

    /// Fits the transform on the gallery / training matrix `train` (`[n, dim]`).
    ///
    /// # Errors
    /// Empty or non-finite input; a non-finite or negative `eps` (or `eps = 0` for whitening);
    /// eigen-solver failure.
    pub fn fit(&self, train: MatRef<'_>) -> Result<FittedTransform> {
        let mut cache = FitCache::default();
        self.fit_cached(train, &mut cache)
    }

    fn fit_cached(&self, train: MatRef<'_>, cache: &mut FitCache) -> Result<FittedTransform> {
        let dim = train.cols();
        if cache.stats.is_none() {
            cache.stats = Some(column_stats(train)?);
        }
        let stats = cache.stats.as_ref().expect("just set");
        if self.needs_eigen() && cache.eigen.is_none() {
            cache.eigen = Some(covariance_eigen(train, &stats.mean)?);
        }
        let f32v = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let kind = match *self {
            FeatureTransform::Identity => Fitted::Identity,
            FeatureTransform::RemoveTopVariance { n } => {
                let spec = spectrum_from_stats(stats.clone());
                let removed = spec.top(n);
                let mut keep = vec![true; dim];
                for &c in &removed {
                    keep[c] = false;
                }
                Fitted::Select {
                    kept: (0..dim).filter(|&c| keep[c]).collect(),
                    removed,
                }
            }
            FeatureTransform::BatchNorm { eps } => {
                check_eps(eps, false)?;
                check_zero_var(&stats.variance, eps)?;
                Fitted::Affine {
                    shift: f32v(&stats.mean),
                    scale: stats
                        .variance
                        .iter()
                        .map(|&v| (1.0 / (v + eps).sqrt()) as f32)
                        .collect(),
                }
            }
            FeatureTransform::Standardize => Fitted::Affine {
                shift: f32v(&stats.mean),
                scale: stats
                    .variance
                    .iter()
                    .map(|&v| {
                        if v > 0.0 {
                            (1.0 / v.sqrt()) as f32
                        } else {
                            1.0
                        }
                    })
                    .collect(),
            },
            FeatureTransform::Whiten { kind, eps } => {
                check_eps(eps, true)?;
                let eig = cache.eigen.as_ref().expect("computed above");
                // Rows of P: e_i / sqrt(λ_i + ε) (PCA); ZCA multiplies by U on the left.
                let mut p = vec![0.0f64; dim * dim];
                for i in 0..dim {
                    let s = 1.0 / (eig.values[i].max(0.0) + eps).sqrt();
                    for c in 0..dim {
                        p[i * dim + c] = eig.vectors[i * dim + c] * s;
                    }
                }
                let proj = match kind {
                    Whitening::Pca => p,
                    Whitening::Zca => {
                        // Z = U · P where U has the eigenvectors as columns: Z[r][c] =
                        // Σ_i e_i[r] · P[i][c].
                        let mut z = vec![0.0f64; dim * dim];
                        for i in 0..dim {
                            for r in 0..dim {
                                let u = eig.vectors[i * dim + r];
                                for c in 0..dim {
                                    z[r * dim + c] += u * p[i * dim + c];
                                }
                            }
                        }
                        z
                    }
                };
                Fitted::Project {
                    mean: f32v(&stats.mean),
                    rows: dim,
                    proj: f32v(&proj),
                }
            }
            FeatureTransform::Pca { k } => {
                let eig = cache.eigen.as_ref().expect("computed above");
                let k = k.min(dim);
                Fitted::Project {
                    mean: f32v(&stats.mean),
                    rows: k,
                    proj: f32v(&eig.vectors[..k * dim]),
                }
            }
        };
        Ok(FittedTransform {
            transform: *self,
            in_dim: dim,
            kind,
        })
    }
}

/// With `eps = 0` a constant column would divide by zero.
fn check_zero_var(var: &[f64], eps: f64) -> Result<()> {
    if eps == 0.0
        && let Some(c) = var.iter().position(|&v| v == 0.0)
    {
        return Err(ProbeError::InvalidParam {
            name: "eps",
            value: format!("0 (column {c} has zero variance)"),
            reason: "must be > 0 when a column has zero variance",
        });
    }
    Ok(())
}

fn check_eps(eps: f64, strictly_positive: bool) -> Result<()> {
    let ok = eps.is_finite()
        && if strictly_positive {
            eps > 0.0
        } else {
            eps >= 0.0
        };
    if ok {
        Ok(())
    } else {
        Err(ProbeError::InvalidParam {
            name: "eps",
            value: eps.to_string(),
            reason: "must be finite and >= 0 (> 0 for whitening)",
        })
    }
}

#[derive(Default)]
struct FitCache {
    stats: Option<ColumnStats>,
    eigen: Option<CovEigen>,
}

/// Eigen-decomposition of the gallery covariance (ddof = 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CovEigen {
    /// Eigenvalues, descending (the PCA spectrum).
    pub values: Vec<f64>,
    /// Unit eigenvectors as rows (`[dim, dim]`, row `i` belongs to `values[i]`), each with its
    /// largest-magnitude component positive.
    pub vectors: Vec<f64>,
}

/// Covariance `(X − μ)ᵀ(X − μ) / n` of `m` (`[n, dim]`), returned row-major `[dim, dim]` in
/// `f64`. Chunks of rows are centred and multiplied with `gemm` in `f32`, the chunk products
/// summed in `f64`.
///
/// # Errors
/// Empty or non-finite input.
pub fn covariance(m: MatRef<'_>) -> Result<Vec<f64>> {
    let stats = column_stats(m)?;
    Ok(covariance_with_mean(m, &stats.mean))
}

fn covariance_with_mean(m: MatRef<'_>, mean: &[f64]) -> Vec<f64> {
    let d = m.cols();
    let n = m.rows();
    let mean32: Vec<f32> = mean.iter().map(|&x| x as f32).collect();
    // Smaller chunks for wide matrices keep the centred copy bounded (≤ 4 MiB per thread).
    let rows_per_chunk = ((1usize << 20) / d.max(1)).clamp(64, CHUNK_ROWS);
    let parts: Vec<Vec<f64>> = m
        .data()
        .par_chunks(rows_per_chunk * d)
        .map(|chunk| {
            let r = chunk.len() / d;
            let mut c: Vec<f32> = chunk.to_vec();
            for row in c.chunks_mut(d) {
                for (x, mu) in row.iter_mut().zip(&mean32) {
                    *x -= mu;
                }
            }
            let mut out = vec![0.0f32; d * d];
            // out = cᵀ c: lhs = cᵀ (d × r; element (i, t) = c[t*d + i]: row stride 1, col
            // stride d), rhs = c (r × d, row-major).
            // SAFETY: all buffers hold the addressed extents; `out` is distinct.
            unsafe {
                gemm::gemm(
                    d,
                    d,
                    r,
                    out.as_mut_ptr(),
                    1,
                    d as isize,
                    false,
                    c.as_ptr(),
                    d as isize,
                    1,
                    c.as_ptr(),
                    1,
                    d as isize,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            out.into_iter().map(|x| x as f64).collect()
        })
        .collect();
    let mut cov = vec![0.0f64; d * d];
    for p in parts {
        for (a, b) in cov.iter_mut().zip(p) {
            *a += b;
        }
    }
    // Symmetrise (the f32 products are symmetric up to rounding) and normalise.
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (cov[i * d + j] + cov[j * d + i]);
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    for v in &mut cov {
        *v /= n as f64;
    }
    cov
}

/// PCA of the gallery: eigen-decomposition of its covariance (ddof = 0).
///
/// # Errors
/// Empty or non-finite input; eigen-solver failure.
pub fn pca(m: MatRef<'_>) -> Result<CovEigen> {
    let stats = column_stats(m)?;
    covariance_eigen(m, &stats.mean)
}

fn covariance_eigen(m: MatRef<'_>, mean: &[f64]) -> Result<CovEigen> {
    let cov = covariance_with_mean(m, mean);
    let eig = sym_eigen(&cov, m.cols())?;
    Ok(CovEigen {
        values: eig.values,
        vectors: eig.vectors,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Fitted {
    Identity,
    Select {
        kept: Vec<usize>,
        removed: Vec<usize>,
    },
    /// `(x − shift) * scale`, per column.
    Affine {
        shift: Vec<f32>,
        scale: Vec<f32>,
    },
    /// `P (x − mean)` with `P` row-major `[rows, in_dim]`.
    Project {
        mean: Vec<f32>,
        rows: usize,
        proj: Vec<f32>,
    },
}

/// A transform fitted on a gallery; apply it to the gallery and to the queries.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedTransform {
    transform: FeatureTransform,
    in_dim: usize,
    kind: Fitted,
}

impl FittedTransform {
    /// BatchNorm1d(affine = False) in eval mode from given running statistics (e.g. those of a
    /// trained linear probe, protocol §6.3): `(x − mean) / sqrt(var + eps)`.
    ///
    /// # Errors
    /// Mismatched lengths, empty statistics, negative or non-finite values.
    pub fn batch_norm_from_stats(mean: &[f32], var: &[f32], eps: f64) -> Result<Self> {
        check_eps(eps, false)?;
        if mean.is_empty() || mean.len() != var.len() {
            return Err(ProbeError::InvalidParam {
                name: "var",
                value: format!("len {} (mean len {})", var.len(), mean.len()),
                reason: "mean and var must be non-empty and of equal length",
            });
        }
        if let Some(v) = var.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(ProbeError::InvalidParam {
                name: "var",
                value: v.to_string(),
                reason: "variances must be finite and >= 0",
            });
        }
        let var64: Vec<f64> = var.iter().map(|&v| v as f64).collect();
        check_zero_var(&var64, eps)?;
        if let Some(v) = mean.iter().find(|v| !v.is_finite()) {
            return Err(ProbeError::InvalidParam {
                name: "mean",
                value: v.to_string(),
                reason: "means must be finite",
            });
        }
        Ok(Self {
            transform: FeatureTransform::BatchNorm { eps },
            in_dim: mean.len(),
            kind: Fitted::Affine {
                shift: mean.to_vec(),
                scale: var
                    .iter()
                    .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
                    .collect(),
            },
        })
    }

    /// The transform this was fitted from.
    pub fn transform(&self) -> FeatureTransform {
        self.transform
    }

    /// Input dimension.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Output dimension (smaller than the input for removal and PCA-k).
    pub fn out_dim(&self) -> usize {
        match &self.kind {
            Fitted::Select { kept, .. } => kept.len(),
            Fitted::Project { rows, .. } => *rows,
            _ => self.in_dim,
        }
    }

    /// For [`FeatureTransform::RemoveTopVariance`]: the deleted column indices (ascending).
    pub fn removed_columns(&self) -> Option<&[usize]> {
        match &self.kind {
            Fitted::Select { removed, .. } => Some(removed),
            _ => None,
        }
    }

    /// Applies the transform to `m` (`[n, in_dim]`), giving `[n, out_dim]`.
    ///
    /// # Errors
    /// [`ProbeError::DimMismatch`] when `m` has the wrong number of columns.
    pub fn apply(&self, m: MatRef<'_>) -> Result<Matrix> {
        if m.cols() != self.in_dim {
            return Err(ProbeError::DimMismatch {
                a: "features",
                a_cols: m.cols(),
                b: "fitted transform",
                b_cols: self.in_dim,
            });
        }
        let d = self.in_dim;
        Ok(match &self.kind {
            Fitted::Identity => m.to_owned(),
            Fitted::Select { kept, .. } => select_columns(m, kept),
            Fitted::Affine { shift, scale } => {
                let mut out = m.to_owned();
                out.data_mut().par_chunks_mut(d).for_each(|row| {
                    for ((x, s), c) in row.iter_mut().zip(shift).zip(scale) {
                        *x = (*x - s) * c;
                    }
                });
                out
            }
            Fitted::Project { mean, rows, proj } => project(m, mean, *rows, proj),
        })
    }
}

/// `out[t] = P (x_t − mean)` for every row, in chunks with `gemm`.
fn project(m: MatRef<'_>, mean: &[f32], rows: usize, proj: &[f32]) -> Matrix {
    let d = m.cols();
    let n = m.rows();
    let mut out = vec![0.0f32; n * rows];
    if rows == 0 {
        return Matrix::new(out, n, 0).expect("consistent");
    }
    let chunk = CHUNK_ROWS.min(n.max(1));
    out.par_chunks_mut(chunk * rows)
        .zip(m.data().par_chunks(chunk * d))
        .for_each(|(o, x)| {
            let r = x.len() / d;
            let mut c = x.to_vec();
            for row in c.chunks_mut(d) {
                for (v, mu) in row.iter_mut().zip(mean) {
                    *v -= mu;
                }
            }
            // o (r × rows) = c (r × d) · Pᵀ (d × rows); Pᵀ element (i, j) = P[j*d + i].
            // SAFETY: extents match the strides; `o` does not alias the inputs.
            unsafe {
                gemm::gemm(
                    r,
                    rows,
                    d,
                    o.as_mut_ptr(),
                    1,
                    rows as isize,
                    false,
                    c.as_ptr(),
                    1,
                    d as isize,
                    proj.as_ptr(),
                    d as isize,
                    1,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
    Matrix::new(out, n, rows).expect("consistent")
}

/// Runs `eval` on every transform of a sweep: each is fitted on `gallery`, applied to `gallery`
/// and `queries`, and `eval(transform, gallery', queries')` is called. Column statistics and the
/// covariance eigen-decomposition are computed once for the whole sweep.
///
/// Memory: one transformed copy of the gallery and of the queries exists at a time (dropped
/// before the next transform).
///
/// # Errors
/// Fitting errors, a gallery / query dimension mismatch, or the first error returned by `eval`.
pub fn sweep<T>(
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    transforms: &[FeatureTransform],
    mut eval: impl FnMut(&FittedTransform, MatRef<'_>, MatRef<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    if gallery.cols() != queries.cols() {
        return Err(ProbeError::DimMismatch {
            a: "gallery",
            a_cols: gallery.cols(),
            b: "queries",
            b_cols: queries.cols(),
        });
    }
    let mut cache = FitCache::default();
    let mut out = Vec::with_capacity(transforms.len());
    for t in transforms {
        let fitted = t.fit_cached(gallery, &mut cache)?;
        let g = fitted.apply(gallery)?;
        let q = fitted.apply(queries)?;
        out.push(eval(&fitted, g.view(), q.view())?);
    }
    Ok(out)
}
