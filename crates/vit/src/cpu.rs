//! Host inference path for the flex (CPU) device: the same forward as [`crate::model`]'s burn-tensor
//! path, computed on the parameters' own buffers (zero-copy) with the `gemm` crate, rayon, and fused
//! epilogues (bias + q-scale, bias + GELU / SwiGLU, bias + LayerScale + residual + LayerNorm) so that
//! every activation is written once per linear layer and no reshape/permute/narrow is materialised.
//!
//! It is selected automatically by [`crate::Vit::forward_layers`] / [`crate::Vit::forward_blocks`]
//! when the input and every parameter are untracked f32 flex tensors; anything else (GPU backends,
//! autodiff-tracked parameters, other dtypes) runs the burn path. Both paths agree to ≤ 1e-4
//! (`tests/host_vs_burn.rs`) and pass the same parity tests.
//!
//! Layouts: tokens are `[B·T, D]` row-major (T = prefix + rows·cols), linear weights `[in, out]`.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use crate::config::{Ffn, RelPosBias};
use crate::error::Result;
use crate::model::{Block, ForwardOutput, Lin, Norm, Vit};

// ------------------------------------------------------------------------------------------------
// Zero-copy parameter access.
// ------------------------------------------------------------------------------------------------

/// An untracked, contiguous f32 flex tensor (kept alive while its slice is used).
struct Host(FlexTensor);

impl Host {
    fn of<const D: usize>(t: Tensor<D>) -> Option<Host> {
        let f = t.try_into_primitive::<Flex>().ok()?;
        f.as_slice::<f32>()?;
        Some(Host(f))
    }

    fn param<const D: usize>(p: &Param<Tensor<D>>) -> Option<Host> {
        Host::of(p.val())
    }

    fn s(&self) -> &[f32] {
        self.0
            .as_slice::<f32>()
            .expect("checked contiguous f32 at construction")
    }
}

struct HostNorm {
    w: Host,
    b: Host,
}

impl HostNorm {
    fn of(n: &Norm) -> Option<HostNorm> {
        Some(HostNorm {
            w: Host::param(&n.weight)?,
            b: Host::param(&n.bias)?,
        })
    }
}

struct HostLin {
    w: Host,
    b: Option<Host>,
    inp: usize,
    out: usize,
}

impl HostLin {
    fn of(l: &Lin) -> Option<HostLin> {
        let [inp, out] = l.weight.val().dims();
        Some(HostLin {
            w: Host::param(&l.weight)?,
            b: match &l.bias {
                Some(b) => Some(Host::param(b)?),
                None => None,
            },
            inp,
            out,
        })
    }

    fn bias(&self) -> Option<&[f32]> {
        self.b.as_ref().map(Host::s)
    }
}

struct HostBlock {
    norm1: HostNorm,
    qkv: HostLin,
    proj: HostLin,
    ls1: Option<Host>,
    norm2: HostNorm,
    fc1: HostLin,
    fc2: HostLin,
    ls2: Option<Host>,
}

impl HostBlock {
    fn of(b: &Block) -> Option<HostBlock> {
        let opt = |p: &Option<Param<Tensor<1>>>| -> Option<Option<Host>> {
            match p {
                Some(p) => Host::param(p).map(Some),
                None => Some(None),
            }
        };
        Some(HostBlock {
            norm1: HostNorm::of(&b.norm1)?,
            qkv: HostLin::of(&b.qkv)?,
            proj: HostLin::of(&b.proj)?,
            ls1: opt(&b.ls1)?,
            norm2: HostNorm::of(&b.norm2)?,
            fc1: HostLin::of(&b.fc1)?,
            fc2: HostLin::of(&b.fc2)?,
            ls2: opt(&b.ls2)?,
        })
    }
}

// ------------------------------------------------------------------------------------------------
// Forward.
// ------------------------------------------------------------------------------------------------

/// Run the forward on the host path, or `None` when it does not apply (see [`applicable`]), in which
/// case nothing has been computed. `wanted` is sorted, deduplicated and within `1..=depth`.
pub(crate) fn try_forward(
    vit: &Vit,
    x: Tensor<4>,
    wanted: &[usize],
    final_norm: bool,
) -> Option<Result<ForwardOutput>> {
    Host::of(x.clone())?;
    let last = wanted.last().copied().unwrap_or(0);
    let blocks: Vec<HostBlock> = vit
        .model
        .blocks
        .iter()
        .take(last)
        .map(HostBlock::of)
        .collect::<Option<_>>()?;
    let norm = match (&vit.model.norm, final_norm) {
        (Some(n), true) => Some(HostNorm::of(n)?),
        _ => None,
    };
    // Patch embedding, positions, CLS/register tokens: the (cheap) burn path, then one copy.
    let (t, rows, cols) = match vit.embed(x) {
        Ok(v) => v,
        Err(e) => return Some(Err(e)),
    };
    let t = Host::of(t)?;
    Some(forward_blocks(
        vit,
        &blocks,
        norm.as_ref(),
        t,
        rows,
        cols,
        wanted,
    ))
}

fn forward_blocks(
    vit: &Vit,
    blocks: &[HostBlock],
    norm: Option<&HostNorm>,
    embedded: Host,
    rows: usize,
    cols: usize,
    wanted: &[usize],
) -> Result<ForwardOutput> {
    let c = &vit.config;
    let [b, t, d] = {
        let s = embedded.0.layout().shape();
        [s[0], s[1], s[2]]
    };
    let m = b * t;
    let heads = c.num_heads;
    let hd = c.head_dim();
    let eps = c.ln_eps as f32;
    let mut x = embedded.s().to_vec();
    drop(embedded);
    let mut y = vec![0f32; m * d];
    let mut qkv = vec![0f32; m * 3 * d];
    let mut att = vec![0f32; m * d];
    let hidden_w = blocks.first().map_or(0, |b| b.fc1.out);
    let mut hid = vec![0f32; m * hidden_w];
    let mut out = Vec::with_capacity(wanted.len());

    // Shared relative bias (if any) is the same tensor for every block.
    let shared_bias = match c.rel_pos_bias {
        RelPosBias::Shared => Some(Host::of(vit.rel_bias(
            vit.model.rel_table.as_ref().expect("shared table"),
            usize::MAX,
            rows,
            cols,
        )?)),
        _ => None,
    };

    // y = norm1_0(x)
    if let Some(b0) = blocks.first() {
        layer_norm_rows(&x, &mut y, d, b0.norm1.w.s(), b0.norm1.b.s(), eps);
    }
    for (i, blk) in blocks.iter().enumerate() {
        let bias = match c.rel_pos_bias {
            RelPosBias::None => None,
            RelPosBias::Shared => shared_bias.as_ref().and_then(|h| h.as_ref()).map(Host::s),
            RelPosBias::PerBlock => None,
        };
        let per_block;
        let bias = if c.rel_pos_bias == RelPosBias::PerBlock {
            per_block = Host::of(vit.rel_bias(
                vit.model.blocks[i].rel_table.as_ref().expect("block table"),
                i,
                rows,
                cols,
            )?);
            per_block.as_ref().map(Host::s)
        } else {
            bias
        };
        if c.rel_pos_bias != RelPosBias::None && bias.is_none() {
            return Err(crate::error::VitError::Config(
                "relative position bias is not a flex f32 tensor".into(),
            ));
        }

        // qkv = y·Wqkv + b, q scaled by 1/sqrt(hd).
        let scale = 1.0 / (hd as f32).sqrt();
        let qb = blk.qkv.bias();
        linear(&y, d, m, &blk.qkv, &mut qkv, &|_, chunk: &mut [f32]| {
            for row in chunk.chunks_exact_mut(3 * d) {
                qkv_epilogue(row, qb, d, scale);
            }
        });
        attention(&qkv, b, t, heads, hd, bias, &mut att);
        // y = att·Wproj; x += ls1 ⊙ (y + b); y = norm2(x)
        linear(&att, d, m, &blk.proj, &mut y, &|_, _: &mut [f32]| {});
        residual_norm(
            &mut x,
            &mut y,
            d,
            blk.proj.bias(),
            blk.ls1.as_ref().map(Host::s),
            Some((&blk.norm2, eps)),
        );
        // hidden = act(y·W1 + b1)
        let h = blk.fc1.out;
        let b1 = blk.fc1.bias();
        let hid = &mut hid[..m * h];
        match c.ffn {
            Ffn::Mlp => linear(&y, d, m, &blk.fc1, hid, &|_, chunk: &mut [f32]| {
                for row in chunk.chunks_exact_mut(h) {
                    gelu_bias(row, b1);
                }
            }),
            // SwiGLU writes silu(a) ⊙ b into the first half of each [a | b] row.
            Ffn::Swiglu => linear(&y, d, m, &blk.fc1, hid, &|_, chunk: &mut [f32]| {
                for row in chunk.chunks_exact_mut(h) {
                    swiglu_bias(row, b1);
                }
            }),
        }
        // y = hidden·W2 (hidden rows have stride h); x += ls2 ⊙ (y + b2); y = norm1_next(x)
        linear_rs(hid, h, m, &blk.fc2, &mut y, &|_, _: &mut [f32]| {});
        let next = blocks.get(i + 1).map(|n| (&n.norm1, eps));
        residual_norm(
            &mut x,
            &mut y,
            d,
            blk.fc2.bias(),
            blk.ls2.as_ref().map(Host::s),
            next,
        );
        let layer = i + 1;
        if wanted.binary_search(&layer).is_ok() {
            let tokens = match norm {
                Some(n) => {
                    let mut o = vec![0f32; m * d];
                    layer_norm_rows(&x, &mut o, d, n.w.s(), n.b.s(), eps);
                    o
                }
                None => x.clone(),
            };
            let tensor = Tensor::<3>::from_data(TensorData::new(tokens, [b, t, d]), vit.device());
            out.push(vit.layer_tokens(layer, tensor));
        }
    }
    Ok(ForwardOutput {
        rows,
        cols,
        layers: out,
    })
}

// ------------------------------------------------------------------------------------------------
// Linear layers: gemm over row chunks in parallel, epilogue on each chunk while it is in cache.
// ------------------------------------------------------------------------------------------------

/// Target rows per parallel task: large enough to amortise packing the weights in each gemm call,
/// small enough that a chunk's output stays in L2 for its epilogue.
const ROW_TARGET: usize = 192;

/// Rows per task for `m` rows: a multiple of the thread count of chunks of about [`ROW_TARGET`] rows,
/// so that the threads finish together.
fn row_chunk(m: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let chunks = m.div_ceil(threads * ROW_TARGET).max(1) * threads;
    m.div_ceil(chunks).max(1)
}

type Epilogue<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// `out[M, N] = lhs[M, K]·W[K, N]` (lhs rows contiguous, row stride K), then `epi(first_row, rows)`.
fn linear(lhs: &[f32], k: usize, m: usize, lin: &HostLin, out: &mut [f32], epi: Epilogue<'_>) {
    debug_assert_eq!(k, lin.inp);
    linear_rs(lhs, k, m, lin, out, epi)
}

/// Like [`linear`] with an explicit lhs row stride (≥ K).
fn linear_rs(
    lhs: &[f32],
    lhs_rs: usize,
    m: usize,
    lin: &HostLin,
    out: &mut [f32],
    epi: Epilogue<'_>,
) {
    let (k, n) = (lin.inp, lin.out);
    let w = lin.w.s();
    assert!(w.len() == k * n && out.len() >= m * n && lhs.len() >= (m - 1) * lhs_rs + k);
    let out = &mut out[..m * n];
    let rc = row_chunk(m);
    out.par_chunks_mut(rc * n)
        .enumerate()
        .for_each(|(ci, chunk)| {
            let rows = chunk.len() / n;
            let r0 = ci * rc;
            // SAFETY: every pointer/stride pair addresses memory inside the slices checked above:
            // lhs rows r0..r0+rows (stride lhs_rs, K columns), w [K, N] row-major, chunk [rows, N].
            unsafe {
                gemm::gemm(
                    rows,
                    n,
                    k,
                    chunk.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    lhs.as_ptr().add(r0 * lhs_rs),
                    1,
                    lhs_rs as isize,
                    w.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            epi(r0, chunk);
        });
}

// ------------------------------------------------------------------------------------------------
// Attention: per (image, head) task, S = q·kᵀ (q pre-scaled) + bias, softmax, O = P·v.
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the tasks sharing the pointer write disjoint (row, head) blocks of the output.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// `qkv [B·T, 3D]` (q | k | v, each head-major `[heads, hd]`) → `out [B·T, D]`.
/// `bias`: `[heads, T, T]` added to the scores (relative position bias).
fn attention(
    qkv: &[f32],
    b: usize,
    t: usize,
    heads: usize,
    hd: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let d = heads * hd;
    assert!(qkv.len() >= b * t * 3 * d && out.len() >= b * t * d);
    if let Some(bias) = bias {
        assert!(bias.len() >= heads * t * t);
    }
    let dst = SendPtr(out.as_mut_ptr());
    thread_local! {
        /// Per-thread scores `[T, T]` and inverse row sums `[T]`, reused across calls.
        static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const {
            std::cell::RefCell::new((Vec::new(), Vec::new()))
        };
    }
    (0..b * heads).into_par_iter().for_each(|task| {
        SCRATCH.with_borrow_mut(|(s, inv)| {
            s.resize(t * t, 0.0);
            inv.resize(t, 0.0);
            let (s, inv) = (&mut s[..t * t], &mut inv[..t]);
            let (bi, h) = (task / heads, task % heads);
            let base = bi * t * 3 * d;
            let q = qkv[base + h * hd..].as_ptr();
            let k = qkv[base + d + h * hd..].as_ptr();
            let v = qkv[base + 2 * d + h * hd..].as_ptr();
            // SAFETY: q/k/v address rows bi·T..bi·T+T of qkv (stride 3D, hd columns at the head's
            // offset), s is [T, T], and dst addresses rows bi·T.. of out at the head's columns,
            // which no other task writes.
            // Sᵀ = k·qᵀ stored column-major, i.e. S [T, T] row-major.
            unsafe {
                gemm::gemm(
                    t,
                    t,
                    hd,
                    s.as_mut_ptr(),
                    t as isize,
                    1,
                    false,
                    k,
                    1,
                    (3 * d) as isize,
                    q,
                    (3 * d) as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (i, row) in s.chunks_exact_mut(t).enumerate() {
                let brow = bias.map(|bb| &bb[(h * t + i) * t..(h * t + i + 1) * t]);
                inv[i] = 1.0 / softmax_unnormalised(row, brow);
            }
            let o = unsafe { dst.get().add(bi * t * d + h * hd) };
            // Oᵀ [hd, T] = vᵀ·Pᵀ, stored column-major: each column is the head's slice of an
            // output row.
            unsafe {
                gemm::gemm(
                    hd,
                    t,
                    t,
                    o,
                    d as isize,
                    1,
                    false,
                    v,
                    (3 * d) as isize,
                    1,
                    s.as_ptr(),
                    t as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
                for (i, &f) in inv.iter().enumerate() {
                    let row = std::slice::from_raw_parts_mut(o.add(i * d), hd);
                    for e in row {
                        *e *= f;
                    }
                }
            }
        })
    });
}

// ------------------------------------------------------------------------------------------------
// Row kernels, compiled for AVX-512 / AVX2+FMA / baseline and selected at run time.
// ------------------------------------------------------------------------------------------------

/// Define `$name` as a run-time dispatch over x86-64-v4 / v3 / baseline builds of the
/// `#[inline(always)]` kernel `$imp` (so LLVM vectorises it with the widest available registers).
macro_rules! dispatch {
    ($(#[$m:meta])* fn $name:ident($($a:ident : $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        $(#[$m])*
        fn $name($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
                fn v4($($a: $t),*) $(-> $r)? {
                    $imp($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($a: $t),*) $(-> $r)? {
                    $imp($($a),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                {
                    // SAFETY: the features were detected on this CPU.
                    return unsafe { v4($($a),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { v3($($a),*) };
                }
            }
            $imp($($a),*)
        }
    };
}

const LANES: usize = 16;

#[inline(always)]
fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let mut s = 0f32;
    for r in it.remainder() {
        s += r;
    }
    acc.iter().sum::<f32>() + s
}

#[inline(always)]
fn centred_sq_sum(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for (a, &v) in acc.iter_mut().zip(c) {
            let v = v - mean;
            *a += v * v;
        }
    }
    let mut s = 0f32;
    for r in it.remainder() {
        let v = r - mean;
        s += v * v;
    }
    acc.iter().sum::<f32>() + s
}

#[inline(always)]
fn layer_norm_row_imp(x: &[f32], out: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    let d = x.len();
    let mean = sum_lanes(x) / d as f32;
    let var = centred_sq_sum(x, mean) / d as f32;
    let r = 1.0 / (var + eps).sqrt();
    for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(w).zip(b) {
        *o = (v - mean) * r * w + b;
    }
}

dispatch!(
    /// `out = LN(x)` for one row.
    fn layer_norm_row(x: &[f32], out: &mut [f32], w: &[f32], b: &[f32], eps: f32) => layer_norm_row_imp
);

/// Row-wise LayerNorm of `x [M, D]` into `out`.
fn layer_norm_rows(x: &[f32], out: &mut [f32], d: usize, w: &[f32], b: &[f32], eps: f32) {
    let rc = row_chunk(x.len() / d) * d;
    out.par_chunks_mut(rc)
        .zip(x.par_chunks(rc))
        .for_each(|(o, x)| {
            for (o, x) in o.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                layer_norm_row(x, o, w, b, eps);
            }
        });
}

#[inline(always)]
fn residual_row_imp(x: &mut [f32], y: &[f32], bias: Option<&[f32]>, ls: Option<&[f32]>) {
    match (bias, ls) {
        (Some(b), Some(g)) => {
            for (((x, &y), &b), &g) in x.iter_mut().zip(y).zip(b).zip(g) {
                *x += g * (y + b);
            }
        }
        (Some(b), None) => {
            for ((x, &y), &b) in x.iter_mut().zip(y).zip(b) {
                *x += y + b;
            }
        }
        (None, Some(g)) => {
            for ((x, &y), &g) in x.iter_mut().zip(y).zip(g) {
                *x += g * y;
            }
        }
        (None, None) => {
            for (x, &y) in x.iter_mut().zip(y) {
                *x += y;
            }
        }
    }
}

dispatch!(
    /// `x += ls ⊙ (y + bias)` for one row.
    fn residual_row(x: &mut [f32], y: &[f32], bias: Option<&[f32]>, ls: Option<&[f32]>) => residual_row_imp
);

/// `x += ls ⊙ (y + bias)` row-wise, then (when `norm` is given) `y = LN(x)`.
fn residual_norm(
    x: &mut [f32],
    y: &mut [f32],
    d: usize,
    bias: Option<&[f32]>,
    ls: Option<&[f32]>,
    norm: Option<(&HostNorm, f32)>,
) {
    let rc = row_chunk(x.len() / d) * d;
    x.par_chunks_mut(rc)
        .zip(y.par_chunks_mut(rc))
        .for_each(|(x, y)| {
            for (x, y) in x.chunks_exact_mut(d).zip(y.chunks_exact_mut(d)) {
                residual_row(x, y, bias, ls);
                if let Some((n, eps)) = norm {
                    layer_norm_row(x, y, n.w.s(), n.b.s(), eps);
                }
            }
        });
}

#[inline(always)]
fn qkv_epilogue_imp(row: &mut [f32], bias: Option<&[f32]>, d: usize, scale: f32) {
    if let Some(b) = bias {
        for (v, &b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    for v in &mut row[..d] {
        *v *= scale;
    }
}

dispatch!(
    /// `row += bias` on a `[3D]` q|k|v row, then `q *= scale`.
    fn qkv_epilogue(row: &mut [f32], bias: Option<&[f32]>, d: usize, scale: f32) => qkv_epilogue_imp
);

/// `e^x` for f32 (Cephes `expf`: range reduction by ln 2, degree-6 polynomial; ≤ 2 ulp on
/// [-87, 88], flushed to ~1e-38 below). Branch-free and free of float→int casts (the integer part
/// is read from the bits of `x·log2(e) + 1.5·2²³`), so loops over it vectorise.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer held in the low bits
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let fx = t - MAGIC;
    let n = t.to_bits().wrapping_sub(MAGIC.to_bits()); // round(x·log2 e) as two's complement
    let r = x - fx * 0.693_359_4 - fx * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let pow2 = f32::from_bits(n.wrapping_add(127) << 23);
    y * pow2
}

/// `erf(x)` for f32: the rational approximation of Eigen's `generic_fast_erf_float` on the input
/// clamped to [-4, 4] (erf(±4) = ±1 in f32); max error a few ulp.
#[inline(always)]
fn erf_approx(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_600_2e-3;
    p = p * x2 + -1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329_5e-3;
    q = q * x2 + -1.426_474e-2;
    p / q
}

#[inline(always)]
fn softmax_unnormalised_imp(row: &mut [f32], bias: Option<&[f32]>) -> f32 {
    if let Some(b) = bias {
        for (v, &b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut it = row.chunks_exact(LANES);
    for c in &mut it {
        for (a, &v) in mx.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &v in it.remainder().iter().chain(mx.iter()) {
        m = if v > m { v } else { m };
    }
    for v in row.iter_mut() {
        *v = exp_approx(*v - m);
    }
    sum_lanes(row)
}

dispatch!(
    /// `row = exp(row + bias − max)`, returning the row sum.
    fn softmax_unnormalised(row: &mut [f32], bias: Option<&[f32]>) -> f32 => softmax_unnormalised_imp
);

#[inline(always)]
fn gelu_bias_imp(row: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        for (v, &b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    for v in row.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + erf_approx(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

dispatch!(
    /// `row = gelu(row + bias)` (exact, erf form).
    fn gelu_bias(row: &mut [f32], bias: Option<&[f32]>) => gelu_bias_imp
);

#[inline(always)]
fn swiglu_bias_imp(row: &mut [f32], bias: Option<&[f32]>) {
    let h = row.len() / 2;
    if let Some(b) = bias {
        for (v, &b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    let (a, g) = row.split_at_mut(h);
    for (a, &g) in a.iter_mut().zip(g.iter()) {
        let x = *a;
        *a = x / (1.0 + exp_approx(-x)) * g;
    }
}

dispatch!(
    /// On a `[2H]` row `[a | b]` (+ bias): `row[..H] = silu(a) ⊙ b`.
    fn swiglu_bias(row: &mut [f32], bias: Option<&[f32]>) => swiglu_bias_imp
);

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Maclaurin series in f64 (|x| ≤ 3) or the continued fraction of erfc (|x| > 3).
    fn erf_ref(x: f64) -> f64 {
        if x.abs() > 3.0 {
            // erfc(x) = exp(-x²)/sqrt(pi) · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
            let a = x.abs();
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
            return (1.0 - erfc).copysign(x);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_and_exp_are_accurate() {
        let mut worst_erf = 0f64;
        let mut worst_exp = 0f64;
        for i in -6000..=6000 {
            let x = i as f32 * 1e-3;
            worst_erf = worst_erf.max((erf_approx(x) as f64 - erf_ref(x as f64)).abs());
            let xe = i as f32 * 0.0145; // [-87, 87]
            let want = (xe as f64).exp();
            worst_exp = worst_exp.max(((exp_approx(xe) as f64 - want) / want).abs());
        }
        assert!(worst_erf < 5e-7, "erf max abs error {worst_erf}");
        assert!(worst_exp < 5e-7, "exp max rel error {worst_exp}");
        // Hand-checked values: erf(0.5) = 0.5204998778, erf(1) = 0.8427007929.
        assert!((erf_approx(0.5) - 0.520_499_9).abs() < 3e-7);
        assert!((erf_approx(1.0) - 0.842_700_8).abs() < 3e-7);
    }

    #[test]
    fn layer_norm_row_matches_definition() {
        // x = [1, 2, 3, 4]: mean 2.5, var 1.25; (x - 2.5)/sqrt(1.25 + eps) * w + b.
        let x = [1f32, 2.0, 3.0, 4.0];
        let w = [1f32, 2.0, 0.5, 1.0];
        let b = [0f32, 1.0, 0.0, -1.0];
        let mut o = [0f32; 4];
        layer_norm_row(&x, &mut o, &w, &b, 0.0);
        let s = 1.25f32.sqrt();
        let want = [-1.5 / s, -0.5 / s * 2.0 + 1.0, 0.5 / s * 0.5, 1.5 / s - 1.0];
        for (a, b) in o.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{o:?} vs {want:?}");
        }
    }

    #[test]
    fn softmax_row_sums_and_ratios() {
        // scores [0, ln 2, ln 3] + bias [0, 0, ln 2] -> exps ∝ [1, 2, 6] (max subtracted).
        let mut row = vec![0f32, 2f32.ln(), 3f32.ln()];
        let sum = softmax_unnormalised(&mut row, Some(&[0.0, 0.0, 2f32.ln()]));
        let p: Vec<f32> = row.iter().map(|v| v / sum).collect();
        for (a, b) in p.iter().zip([1.0 / 9.0, 2.0 / 9.0, 6.0 / 9.0]) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
    }
}
