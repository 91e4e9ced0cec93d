//! Symmetric eigen-decomposition of covariance matrices, in `f64`, by [`faer`]
//! (`MatRef::self_adjoint_eigen`: blocked Householder tridiagonalisation and a divide-and-conquer
//! tridiagonal solver, multi-threaded through rayon).
//!
//! It replaced a one-thread transcription of JAMA's `tred2` / `tql2` (EISPACK) that the crate
//! carried before; `examples/eigen_bench` times both on covariance matrices and checks that they
//! agree (figures in the crate documentation).
//!
//! The output is made deterministic on top of `faer`: eigenvalues in descending order (ties by
//! `faer`'s order), each eigenvector's largest-magnitude component positive (the first such
//! component on ties). Eigenvectors of repeated eigenvalues are only defined up to a rotation inside
//! their eigenspace, so those may differ from another solver's.

use crate::error::{ProbeError, Result};

/// Eigenvalues (descending) and eigenvectors of a symmetric `n × n` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct SymEigen {
    /// Eigenvalues, descending.
    pub values: Vec<f64>,
    /// Eigenvectors as rows: `vectors[i * n..(i + 1) * n]` belongs to `values[i]`. Each vector
    /// is unit-length with its largest-magnitude component positive (a deterministic sign).
    pub vectors: Vec<f64>,
}

/// Decomposes the symmetric row-major `a` (`n × n`). Only the lower triangle is read; symmetry
/// is assumed, not checked.
///
/// # Errors
/// `a.len() != n * n` ([`ProbeError::BufferLength`]); the solver not converging
/// ([`ProbeError::Numerical`]).
pub fn sym_eigen(a: &[f64], n: usize) -> Result<SymEigen> {
    if a.len() != n * n {
        return Err(ProbeError::BufferLength {
            name: "symmetric matrix",
            len: a.len(),
            rows: n,
            cols: n,
        });
    }
    if n == 0 {
        return Ok(SymEigen {
            values: vec![],
            vectors: vec![],
        });
    }
    let m = faer::MatRef::from_row_major_slice(a, n, n);
    let evd = m
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| ProbeError::Numerical {
            what: "symmetric eigen-decomposition (faer)",
            detail: format!("{e:?}"),
        })?;
    let (u, s) = (evd.U(), evd.S().column_vector());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
    let mut values = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n * n);
    let mut col = vec![0.0f64; n];
    for &i in &order {
        values.push(s[i]);
        for (r, x) in col.iter_mut().enumerate() {
            *x = u[(r, i)];
        }
        let big = col
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        vectors.extend(col.iter().map(|x| x * sign));
    }
    Ok(SymEigen { values, vectors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn hand_worked_2x2() {
        // [[2, 1], [1, 2]] has eigenvalues 3 and 1 with vectors (1, 1)/√2 and (1, −1)/√2.
        let eig = sym_eigen(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
        assert!((eig.values[0] - 3.0).abs() < 1e-12);
        assert!((eig.values[1] - 1.0).abs() < 1e-12);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((eig.vectors[0] - h).abs() < 1e-12 && (eig.vectors[1] - h).abs() < 1e-12);
        // Second vector: largest-magnitude component positive; both equal in magnitude, so
        // the first one found (index 0) decides.
        assert!((eig.vectors[2].abs() - h).abs() < 1e-12);
        assert!((eig.vectors[2] + eig.vectors[3]).abs() < 1e-12);
    }

    #[test]
    fn wrong_length_is_an_error() {
        assert!(matches!(
            sym_eigen(&[1.0, 0.0, 0.0], 2),
            Err(ProbeError::BufferLength {
                len: 3,
                rows: 2,
                cols: 2,
                ..
            })
        ));
        let empty = sym_eigen(&[], 0).unwrap();
        assert!(empty.values.is_empty() && empty.vectors.is_empty());
    }

    #[test]
    fn hand_worked_3x3_with_distinct_eigenvalues() {
        // [[2, 0, 0], [0, 3, 4], [0, 4, 9]]: 2 on e₀; the lower block has trace 12 and determinant 11,
        // so eigenvalues 11 and 1 with vectors (0, 1, 2)/√5 and (0, 2, −1)/√5.
        let eig = sym_eigen(&[2.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 4.0, 9.0], 3).unwrap();
        let want_values = [11.0, 2.0, 1.0];
        let r = 1.0 / 5f64.sqrt();
        // Signs by the rule: largest-magnitude component positive.
        let want_vectors = [0.0, r, 2.0 * r, 1.0, 0.0, 0.0, 0.0, 2.0 * r, -r];
        for (g, w) in eig.values.iter().zip(want_values) {
            assert!((g - w).abs() < 1e-12, "{:?}", eig.values);
        }
        for (g, w) in eig.vectors.iter().zip(want_vectors) {
            assert!((g - w).abs() < 1e-12, "{:?}", eig.vectors);
        }
    }

    #[test]
    fn random_symmetric_reconstructs() {
        let n = 37;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut a = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x: f64 = rng.random_range(-1.0..1.0);
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let eig = sym_eigen(&a, n).unwrap();
        for w in eig.values.windows(2) {
            assert!(w[0] >= w[1]);
        }
        for i in 0..n {
            let vi = &eig.vectors[i * n..(i + 1) * n];
            // A v = λ v
            for r in 0..n {
                let av: f64 = (0..n).map(|c| a[r * n + c] * vi[c]).sum();
                assert!((av - eig.values[i] * vi[r]).abs() < 1e-10, "A v != λ v");
            }
            // orthonormal
            for j in 0..n {
                let vj = &eig.vectors[j * n..(j + 1) * n];
                let dot: f64 = vi.iter().zip(vj).map(|(x, y)| x * y).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-10);
            }
        }
    }
}
