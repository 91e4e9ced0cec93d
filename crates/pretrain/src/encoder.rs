//! The differentiable training-time forward of a [`VitModel`].
//!
//! `patchlens_vit::Vit` is an inference engine: it reads position tables and relative-position biases
//! back to the host and caches them, so gradients cannot flow into them, and it has no token masking.
//! This module re-implements the same forward with every parameter in the autodiff graph, plus the
//! token operations the objectives need (MAE's token dropping, SimMIM's mask token, resized position
//! tables for DINO's local crops). A unit test checks it against `Vit::forward_layers` for every
//! family configuration.

use burn::tensor::activation::gelu;
use burn::tensor::module::{attention, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};
use patchlens_vit::model::{Block, Lin, Norm, VitModel};
use patchlens_vit::{PosEmbedKind, QkvBias, RelPosBias, VitConfig};

use crate::error::{Result, invalid};

/// `[B, 3, H, W]` → `[B, rows·cols, 3·p·p]`, each patch flattened in (channel, y, x) order (the order of
/// a flattened `Conv2d` weight and of MAE's / SimMIM's pixel targets up to their permutation).
pub fn patchify(x: Tensor<4>, p: usize) -> Tensor<3> {
    let [b, c, h, w] = x.dims();
    let (rows, cols) = (h / p, w / p);
    x.reshape([b, c, rows, p, cols, p])
        .permute([0, 2, 4, 1, 3, 5])
        .reshape([b, rows * cols, c * p * p])
}

/// Apply a linear layer (`weight [in, out]`) to the last dimension.
pub fn lin<const N: usize>(l: &Lin, x: Tensor<N>) -> Tensor<N> {
    linear(x, l.weight.val(), l.bias.as_ref().map(|b| b.val()))
}

/// Apply a LayerNorm to the last dimension.
pub fn norm<const N: usize>(n: &Norm, x: Tensor<N>, eps: f64) -> Tensor<N> {
    layer_norm(x, n.weight.val(), Some(n.bias.val()), eps)
}

/// One pre-norm block: `x + ls1·proj(attn(norm1(x)))`, then `x + ls2·fc2(gelu(fc1(norm2(x))))`.
///
/// `x` is `[B, N, D]`; `bias` an additive attention bias `[1, heads, N, N]`. With `qv_bias` the middle
/// (key) third of the stored qkv bias is replaced by zeros, so it receives no gradient (SimMIM/BEiT).
pub fn block_forward(
    blk: &Block,
    x: Tensor<3>,
    heads: usize,
    eps: f64,
    qv_bias: bool,
    bias: Option<Tensor<4>>,
) -> Tensor<3> {
    let [b, n, d] = x.dims();
    let hd = d / heads;
    let y = norm(&blk.norm1, x.clone(), eps);
    let qkv_b = blk.qkv.bias.as_ref().map(|p| {
        let v = p.val();
        if qv_bias {
            let q = v.clone().narrow(0, 0, d);
            let vb = v.narrow(0, 2 * d, d);
            let z = Tensor::<1>::zeros([d], &q.device());
            Tensor::cat(vec![q, z, vb], 0)
        } else {
            v
        }
    });
    let qkv = linear(y, blk.qkv.weight.val(), qkv_b)
        .reshape([b, n, 3 * heads, hd])
        .swap_dims(1, 2);
    let q = qkv.clone().narrow(1, 0, heads);
    let k = qkv.clone().narrow(1, heads, heads);
    let v = qkv.narrow(1, 2 * heads, heads);
    let bias = bias.map(|t| t.expand([b, heads, n, n]));
    let o = attention(q, k, v, None, bias, AttentionModuleOptions::default())
        .swap_dims(1, 2)
        .reshape([b, n, d]);
    let mut y = lin(&blk.proj, o);
    if let Some(ls) = &blk.ls1 {
        y = y * ls.val().reshape([1, 1, d]);
    }
    let x = x + y;
    let y = norm(&blk.norm2, x.clone(), eps);
    let mut y = lin(&blk.fc2, gelu(lin(&blk.fc1, y)));
    if let Some(ls) = &blk.ls2 {
        y = y * ls.val().reshape([1, 1, d]);
    }
    x + y
}

/// The linear map `[rows·cols, g·g]` that resizes a `g × g` position grid to `rows × cols` by the
/// family rule of `cfg` (the resize is linear in the table, so it is obtained by resizing the one-hot
/// basis grids with `patchlens_vit::posembed::resize_grid`).
pub fn position_resize_matrix(cfg: &VitConfig, rows: usize, cols: usize) -> Result<Vec<f32>> {
    let g = cfg.native_grid();
    let n = g * g;
    let mut basis = vec![0f32; n * n];
    for k in 0..n {
        basis[k * n + k] = 1.0;
    }
    let out = patchlens_vit::posembed::resize_grid(
        &basis,
        n,
        g,
        rows,
        cols,
        cfg.pos_interp,
        cfg.interpolate_offset,
        cfg.interpolate_antialias,
    )
    .ok_or_else(|| {
        invalid(
            "grid",
            format!("{rows}x{cols}"),
            format!("the {g}x{g} position grid of this family cannot be resized"),
        )
    })?;
    // out is [basis k, rows*cols]; transpose to [rows*cols, k].
    let m = rows * cols;
    let mut t = vec![0f32; m * n];
    for k in 0..n {
        for j in 0..m {
            t[j * n + k] = out[k * m + j];
        }
    }
    Ok(t)
}

/// Position table `[prefix + rows·cols, D]` in the graph (`None` without absolute positions).
pub fn position_table(
    model: &VitModel,
    cfg: &VitConfig,
    rows: usize,
    cols: usize,
) -> Result<Option<Tensor<2>>> {
    match cfg.pos_embed {
        PosEmbedKind::None => Ok(None),
        PosEmbedKind::SincosGsd => Err(invalid(
            "pos_embed",
            "sincos_gsd",
            "not supported for training",
        )),
        PosEmbedKind::Learned => {
            let table = model
                .pos_embed
                .as_ref()
                .ok_or_else(|| invalid("pos_embed", "absent", "the config asks for one"))?
                .val();
            let g = cfg.native_grid();
            if rows == g && cols == g {
                return Ok(Some(table));
            }
            let prefix = usize::from(cfg.cls_token);
            let d = cfg.embed_dim;
            let device = table.device();
            let m = position_resize_matrix(cfg, rows, cols)?;
            let m = Tensor::<2>::from_data(TensorData::new(m, [rows * cols, g * g]), &device);
            let grid = table.clone().narrow(0, prefix, g * g);
            let resized = m.matmul(grid);
            let _ = d;
            if prefix > 0 {
                Ok(Some(Tensor::cat(
                    vec![table.narrow(0, 0, prefix), resized],
                    0,
                )))
            } else {
                Ok(Some(resized))
            }
        }
    }
}

/// Relative-position bias `[1, heads, N+1, N+1]` of the shared table at the native grid (in the graph).
pub fn relative_bias(model: &VitModel, cfg: &VitConfig) -> Result<Option<Tensor<4>>> {
    match cfg.rel_pos_bias {
        RelPosBias::None => Ok(None),
        RelPosBias::PerBlock => Err(invalid(
            "rel_pos_bias",
            "per_block",
            "not supported for training",
        )),
        RelPosBias::Shared => {
            let table = model
                .rel_table
                .as_ref()
                .ok_or_else(|| invalid("rel_pos_table", "absent", "the config asks for one"))?
                .val();
            let g = cfg.native_grid();
            let idx: Vec<i64> = patchlens_vit::posembed::relative_position_index(g, g)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            let t = g * g + 1;
            let device = table.device();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [t * t]), &device);
            let heads = cfg.num_heads;
            Ok(Some(
                table
                    .select(0, idx)
                    .swap_dims(0, 1)
                    .reshape([1, heads, t, t]),
            ))
        }
    }
}

/// Patch embedding `[B, 3, H, W]` → `[B, rows·cols, D]` (no CLS, no positions).
pub fn embed_patches(
    model: &VitModel,
    cfg: &VitConfig,
    x: Tensor<4>,
) -> Result<(Tensor<3>, usize, usize)> {
    let [_, c, h, w] = x.dims();
    let p = cfg.patch_size;
    if c != 3 || h % p != 0 || w % p != 0 || h == 0 || w == 0 {
        return Err(invalid(
            "input",
            format!("[{c}, {h}, {w}]"),
            format!("need 3 channels and sides that are multiples of {p}"),
        ));
    }
    Ok((lin(&model.patch, patchify(x, p)), h / p, w / p))
}

/// Run every block then the final norm on `[B, T, D]` tokens.
pub fn run_blocks(
    model: &VitModel,
    cfg: &VitConfig,
    mut t: Tensor<3>,
    bias: Option<Tensor<4>>,
) -> Tensor<3> {
    let qv = cfg.qkv_bias == QkvBias::Qv;
    for blk in &model.blocks {
        t = block_forward(blk, t, cfg.num_heads, cfg.ln_eps, qv, bias.clone());
    }
    match &model.norm {
        Some(n) => norm(n, t, cfg.ln_eps),
        None => t,
    }
}

fn prepend_cls(model: &VitModel, cfg: &VitConfig, t: Tensor<3>) -> Tensor<3> {
    match &model.cls_token {
        Some(cls) => {
            let [b, _, d] = t.dims();
            let _ = cfg;
            let cls = cls.val().reshape([1, 1, d]).expand([b, 1, d]);
            Tensor::cat(vec![cls, t], 1)
        }
        None => t,
    }
}

/// Full forward `[B, 3, H, W]` → final-normed tokens `[B, 1 + rows·cols, D]` (CLS first), with the
/// position table resized to the input's grid when it differs from the native one.
pub fn encode(model: &VitModel, cfg: &VitConfig, x: Tensor<4>) -> Result<Tensor<3>> {
    let (t, rows, cols) = embed_patches(model, cfg, x)?;
    encode_embedded(model, cfg, t, rows, cols)
}

/// Forward from already-embedded patch tokens `[B, rows·cols, D]` (e.g. after SimMIM's mask-token
/// substitution): CLS, positions, blocks, final norm → `[B, 1 + rows·cols, D]`.
pub fn encode_embedded(
    model: &VitModel,
    cfg: &VitConfig,
    t: Tensor<3>,
    rows: usize,
    cols: usize,
) -> Result<Tensor<3>> {
    let mut t = prepend_cls(model, cfg, t);
    if let Some(pos) = position_table(model, cfg, rows, cols)? {
        t = t + pos.unsqueeze::<3>();
    }
    let bias = if cfg.rel_pos_bias == RelPosBias::None {
        None
    } else {
        let g = cfg.native_grid();
        if rows != g || cols != g {
            return Err(invalid(
                "grid",
                format!("{rows}x{cols}"),
                format!("relative-position models train at the native {g}x{g} grid only"),
            ));
        }
        relative_bias(model, cfg)?
    };
    Ok(run_blocks(model, cfg, t, bias))
}

/// MAE's encoder: positions added to every patch, then only the patches `keep` `[B, K]` (indices into
/// the row-major grid) are kept, the CLS token (plus its position) prepended, and the blocks run:
/// `[B, 1 + K, D]`. The input must be at the native grid.
pub fn encode_visible(
    model: &VitModel,
    cfg: &VitConfig,
    x: Tensor<4>,
    keep: &[Vec<usize>],
) -> Result<Tensor<3>> {
    let (t, rows, cols) = embed_patches(model, cfg, x)?;
    let [b, n, d] = t.dims();
    let device = t.device();
    let pos = position_table(model, cfg, rows, cols)?;
    let prefix = usize::from(cfg.cls_token);
    let t = match &pos {
        Some(p) => t + p.clone().narrow(0, prefix, n).unsqueeze::<3>(),
        None => t,
    };
    let t = t.gather(1, gather_index(keep, b, n, d, &device)?);
    let mut t = t;
    if let Some(cls) = &model.cls_token {
        let mut c = cls.val().reshape([1, 1, d]);
        if let Some(p) = &pos {
            c = c + p.clone().narrow(0, 0, 1).reshape([1, 1, d]);
        }
        t = Tensor::cat(vec![c.expand([b, 1, d]), t], 1);
    }
    Ok(run_blocks(model, cfg, t, None))
}

/// Index tensor `[B, K, D]` for `gather(1, ·)` that picks tokens `rows[b]` (each of length K, < n).
pub fn gather_index(
    rows: &[Vec<usize>],
    b: usize,
    n: usize,
    d: usize,
    device: &Device,
) -> Result<Tensor<3, Int>> {
    if rows.len() != b {
        return Err(invalid(
            "keep",
            rows.len(),
            format!("need one index list per image ({b})"),
        ));
    }
    let k = rows.first().map_or(0, Vec::len);
    let mut idx = Vec::with_capacity(b * k * d);
    for r in rows {
        if r.len() != k || r.iter().any(|&i| i >= n) {
            return Err(invalid(
                "keep",
                format!("{r:?}"),
                format!("need {k} indices < {n}"),
            ));
        }
        for &i in r {
            idx.extend(std::iter::repeat_n(i as i64, d));
        }
    }
    Ok(Tensor::<3, Int>::from_data(
        TensorData::new(idx, [b, k, d]),
        device,
    ))
}
