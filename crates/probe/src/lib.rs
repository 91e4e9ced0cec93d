//! `patchlens-probe`: the probes of the study, on plain feature matrices and label arrays.
//!
//! Nothing here knows about models or datasets. Inputs are row-major `f32` buffers with explicit
//! shapes ([`MatRef`], [`Matrix`]) and `u32` label arrays; outputs are plain structs.
//!
//! - [`knn`]: exact blocked k-NN (dot / cosine / negative L2; nearest, majority, weighted and
//!   softmax votes), on the host with a fused `gemm` + streaming top-k, or with the GEMM on any
//!   burn device.
//! - [`linear`]: the linear probe (softmax regression with Adam, optional BatchNorm without
//!   affine parameters, model selection on a held-out split).
//! - [`variance`]: the high-variance feature analysis of protocol §6 (variance spectrum, deletion
//!   of the top-N dimensions, BatchNorm-style normalisation) and the alternatives
//!   (standardisation, PCA / ZCA whitening, PCA-k) behind one sweep API.
//!
//! Build note: this crate enables the `x86-v4` feature of `gemm` (AVX-512 kernels, chosen at run
//! time only when the CPU has AVX-512, so the binary still runs elsewhere). Through feature
//! unification this also applies to burn-flex's matmuls in any build that includes this crate.

mod eigen;
pub mod error;
pub mod knn;
pub mod linear;
pub mod matrix;
pub mod variance;

pub use error::{ProbeError, Result};
pub use matrix::{MatRef, Matrix};
