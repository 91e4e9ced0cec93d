//! Device path: similarities **and top-k** on a burn device chosen at run time (a GPU backend, or
//! `Device::flex()` on the CPU); only `k` scores and indices per query come back to the host.
//!
//! Per gallery block (uploaded once) and query block: the score tile `[qb, gb]` is one matmul, turned
//! into ranking scores on the device (cosine: × `1/|g|`; L2: `2 q·g − |g|²`), reduced to its best
//! `min(k, gb)` columns by burn's `topk_with_indices` (a device reduction on the cubecl backends), and
//! merged into the query block's running list, which also stays on the device (the two lists are
//! concatenated and reduced again). At the end each query block's `[qb, k]` scores and indices are
//! read back, sorted by the crate's order (similarity descending, lower index first) and finished as
//! on the host.

use super::topk;
use super::{Neighbours, Norms, SearchConfig, cpu, plan_device, validate};
use crate::error::{ProbeError, Result};
use crate::matrix::MatRef;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Default working-memory budget of the device path: 4 GiB, a quarter of a 16 GB card. Half of it holds
/// the gallery block, so a Cityscapes-scale gallery (451,584 × 768 f32 = 1.39 GB) is one block.
pub const DEFAULT_DEVICE_MEMORY_BUDGET: usize = 4 << 30;

/// Uploads rows of a host matrix as a `[rows, dim]` tensor.
fn upload(m: MatRef<'_>, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(
        TensorData::new(m.data().to_vec(), [m.rows(), m.cols()]),
        device,
    )
}

/// A per-gallery-row factor or term as a `[1, n]` row.
fn row(v: &[f32], device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
}

/// A tensor read back to the host as `E` values (`what`: which, for the error).
fn read_back<E: burn::tensor::Element>(
    data: std::result::Result<TensorData, impl std::fmt::Debug>,
    what: &str,
) -> Result<Vec<E>> {
    let err =
        |e: &dyn std::fmt::Debug| ProbeError::Backend(format!("reading the k-NN {what}: {e:?}"));
    data.map_err(|e| err(&e))?
        .convert::<E>()
        .try_into_vec::<E>()
        .map_err(|e| err(&e))
}

/// Whether `device` is the flex CPU device, on which the host path ([`search`](super::search)) runs.
pub fn on_host(device: &Device) -> bool {
    *device == Device::flex()
}

/// Exact k-NN where `device` says: the host path ([`search`](super::search), with `cfg`'s budget) on the flex
/// CPU device, else [`search_on_device`] with the device path's own budget
/// ([`DEFAULT_DEVICE_MEMORY_BUDGET`]; `cfg.memory_budget_bytes` sizes CPU tiles).
///
/// # Errors
/// As [`search`](super::search) and [`search_on_device`].
pub fn search_on(
    device: &Device,
    gallery: MatRef<'_>,
    queries: MatRef<'_>,
    cfg: &SearchConfig,
) -> Result<Neighbours> {
    if on_host(device) {
        return super::search(gallery, queries, cfg);
    }
    let device_cfg = SearchConfig {
        memory_budget_bytes: DEFAULT_DEVICE_MEMORY_BUDGET,
        ..cfg.clone()
    };
    search_on_device(device, gallery, queries, &device_cfg)
}

/// Exact blocked k-NN with the GEMM and the top-k on `device`.
///
/// Same contract as [`search`](super::search) and the same neighbours, except where similarities tie
/// or nearly tie: the scores come from the device's GEMM kernel (they can differ from the host's in
/// the last bits), and which of several equal scores a device top-k keeps is the backend's choice.
/// The returned lists are in the crate's order. Block sizes come from [`plan_device`] and
/// `cfg.memory_budget_bytes` ([`DEFAULT_DEVICE_MEMORY_BUDGET`] suits a 16 GB card).
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
    let plan = plan_device(ng, nq, dim, k, cfg.memory_budget_bytes)?;
    let norms = Norms::new(gallery, cfg.similarity);
    let n_qblocks = nq.div_ceil(plan.query_block);
    let mut running: Vec<Option<(Tensor<2>, Tensor<2, Int>)>> = vec![None; n_qblocks];
    let mut g0 = 0;
    while g0 < ng {
        let g1 = (g0 + plan.gallery_block).min(ng);
        let gt = upload(gallery.slice_rows(g0, g1), device).transpose();
        let (scale, shift) = match &norms {
            Norms::Dot => (None, None),
            Norms::Cosine(inv) => (Some(row(&inv[g0..g1], device)), None),
            Norms::NegL2(sq) => (None, Some(row(&sq[g0..g1], device))),
        };
        let kk = k.min(g1 - g0);
        for (b, slot) in running.iter_mut().enumerate() {
            let q0 = b * plan.query_block;
            let q1 = (q0 + plan.query_block).min(nq);
            let mut s = upload(queries.slice_rows(q0, q1), device).matmul(gt.clone());
            if let Some(f) = &scale {
                s = s * f.clone();
            }
            if let Some(t) = &shift {
                s = s * 2.0 - t.clone();
            }
            let (v, i) = s.topk_with_indices(kk, 1);
            let i = i.add_scalar(g0 as i64);
            *slot = Some(match slot.take() {
                None => (v, i),
                Some((rv, ri)) => {
                    let cv = Tensor::cat(vec![rv, v], 1);
                    let ci = Tensor::cat(vec![ri, i], 1);
                    let keep = k.min(cv.dims()[1]);
                    let (v, pos) = cv.topk_with_indices(keep, 1);
                    (v, ci.gather(1, pos))
                }
            });
        }
        g0 = g1;
    }
    let mut sims = vec![0.0f32; nq * k];
    let mut idx = vec![0u32; nq * k];
    for (b, slot) in running.into_iter().enumerate() {
        let (v, i) = slot.expect("every query block met at least one gallery block");
        let q0 = b * plan.query_block;
        let v: Vec<f32> = read_back(v.try_into_data(), "scores")?;
        let i: Vec<i64> = read_back(i.try_into_data(), "indices")?;
        for (r, (vs, is)) in v.chunks(k).zip(i.chunks(k)).enumerate() {
            let q = q0 + r;
            let mut pairs: Vec<(f32, u32)> = vs
                .iter()
                .zip(is)
                .map(|(&s, &j)| {
                    let j = u32::try_from(j)
                        .ok()
                        .filter(|&j| (j as usize) < ng && s.is_finite())
                        .unwrap_or(topk::EMPTY);
                    (s, j)
                })
                .collect();
            pairs.sort_unstable_by(|a, b| topk::order(a.0, a.1, b.0, b.1));
            for (j, (s, gi)) in pairs.into_iter().enumerate() {
                sims[q * k + j] = s;
                idx[q * k + j] = gi;
            }
        }
    }
    cpu::finish(&mut sims, &mut idx, k, &norms, queries)?;
    Ok(Neighbours {
        n_queries: nq,
        k,
        indices: idx,
        similarities: sims,
    })
}
