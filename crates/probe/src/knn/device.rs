//! Device path: the similarity GEMM runs on a burn device chosen at run time (a GPU backend, or
//! `Device::flex()` on the CPU), the top-k scan on the host.

use super::topk;
use super::{Neighbours, Norms, SearchConfig, cpu, plan_device, validate};
use crate::error::{ProbeError, Result};
use crate::matrix::MatRef;
use burn::tensor::{Device, Tensor, TensorData};

/// Uploads rows of a host matrix as a `[rows, dim]` tensor.
fn upload(m: MatRef<'_>, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(
        TensorData::new(m.data().to_vec(), [m.rows(), m.cols()]),
        device,
    )
}

/// Exact blocked k-NN with the GEMM on `device`.
///
/// Same contract and results as [`search`](super::search) (up to the last bits of the
/// similarities, which come from a different GEMM kernel). Block sizes come from
/// [`plan_device`] and `cfg.memory_budget_bytes`: one gallery chunk stays on the device while
/// every query block is multiplied with it; each `[query_block, gallery_block]` score tile is
/// read back and scanned into the running top-k lists on the host. Cosine and L2 use host-side
/// norms exactly as the host path does, so no normalised copy of the gallery is made.
///
/// # Errors
/// As [`search`](super::search); backend failures (e.g. out of device memory on read-back) are
/// [`ProbeError::Backend`].
pub fn search_on_device(
    device: &Device,
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    cfg: &SearchConfig,
) -> Result<Neighbours> {
    validate(gallery, queries, cfg.k)?;
    let k = cfg.k;
    let (ng, nq, dim) = (gallery.rows(), queries.rows(), gallery.cols());
    let plan = plan_device(ng, nq, dim, cfg.memory_budget_bytes)?;
    let norms = Norms::new(gallery, cfg.similarity);
    let rank = norms.rank();
    let mut sims = vec![0.0f32; nq * k];
    let mut idx = vec![0u32; nq * k];
    for (s, i) in sims.chunks_mut(k).zip(idx.chunks_mut(k)) {
        topk::reset(s, i);
    }
    let mut g0 = 0;
    while g0 < ng {
        let g1 = (g0 + plan.gallery_block).min(ng);
        let gt = upload(gallery.slice_rows(g0, g1), device).transpose();
        let mut q0 = 0;
        while q0 < nq {
            let q1 = (q0 + plan.query_block).min(nq);
            let scores = upload(queries.slice_rows(q0, q1), device).matmul(gt.clone());
            let data = scores
                .try_into_data()
                .map_err(|e| ProbeError::Backend(format!("{e:?}")))?
                .convert::<f32>();
            let tile = data
                .as_slice::<f32>()
                .map_err(|e| ProbeError::Backend(format!("{e:?}")))?;
            let cols = g1 - g0;
            for r in 0..(q1 - q0) {
                let q = q0 + r;
                topk::scan_row(
                    &tile[r * cols..(r + 1) * cols],
                    g0,
                    rank,
                    &mut sims[q * k..(q + 1) * k],
                    &mut idx[q * k..(q + 1) * k],
                );
            }
            q0 = q1;
        }
        g0 = g1;
    }
    cpu::finish(&mut sims, &mut idx, k, &norms, queries)?;
    Ok(Neighbours {
        n_queries: nq,
        k,
        indices: idx,
        similarities: sims,
    })
}
