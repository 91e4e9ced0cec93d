//! `patchlens-probe`: the probes of the study, on plain feature matrices and label arrays.
//!
//! Nothing here knows about models or datasets. Inputs are row-major `f32` buffers with explicit
//! shapes ([`MatRef`], [`Matrix`]) and `u32` label arrays; outputs are plain structs.
//!
//! - [`knn`]: exact blocked k-NN (dot / cosine / negative L2; nearest, majority, weighted and
//!   softmax votes), on the host with the dot products ranked in registers (AVX-512) or a `gemm`
//!   tile + streaming top-k (bit for bit the same), or with the GEMM on any burn device.
//! - [`linear`]: the linear probe (softmax regression with Adam, optional BatchNorm without
//!   affine parameters, model selection on a held-out split).
//! - [`variance`]: the high-variance feature analysis of protocol §6 (variance spectrum, deletion
//!   of the top-N dimensions, BatchNorm-style normalisation) and the alternatives
//!   (standardisation, PCA / ZCA whitening, PCA-k) behind one sweep API.
//! - [`eigen`]: the symmetric eigen-decomposition behind PCA, whitening and the variance analysis.
//!
//! **Eigen-solver.** Covariance matrices are decomposed by [`faer`]'s self-adjoint
//! eigen-decomposition (`f64`, multi-threaded), with a deterministic order and sign on top
//! ([`eigen::sym_eigen`]). It replaced a hand-written one-thread transcription of JAMA's
//! `tred2`/`tql2` after `examples/eigen_bench` (both solvers in one run, on covariances of `4·D`
//! seeded samples) measured, on the project's 2-core x86 VM (AMD EPYC, shared with other jobs,
//! load ≈ 3.5):
//!
//! | D | hand-written | faer, 2 threads | ratio | faer, 1 thread | ratio |
//! |---|---|---|---|---|---|
//! | 768 | 1.74 s | 0.106 s | 16× | 0.145 s | 23× (hand-written 3.40 s in that run) |
//! | 1536 | 33.5 s | 0.711 s | 47× | 0.774 s | 47× (hand-written 36.5 s) |
//!
//! The two agree to `|Δλ|/λmax ≤ 3e-15` and, for the 16 leading eigenvectors, `|Δv| ≤ 5e-13`.
//!
//! Build note: this crate enables the `x86-v4` feature of `gemm` (AVX-512 kernels, chosen at run
//! time only when the CPU has AVX-512, so the binary still runs elsewhere). Through feature
//! unification this also applies to burn-flex's matmuls in any build that includes this crate.

pub mod eigen;
pub mod error;
pub mod knn;
pub mod linear;
pub mod matrix;
pub mod variance;

pub use error::{ProbeError, Result};
pub use matrix::{MatRef, Matrix};
