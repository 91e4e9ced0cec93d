//! The ViT backbone as a burn [`Module`]: one implementation for every family, configured by
//! [`VitConfig`]. Runs on whatever [`Device`] its parameters live on (flex CPU, wgpu, cuda).

use std::collections::HashMap;
use std::sync::Mutex;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::module::{attention, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, FloatDType, Tensor, TensorData, activation};

use crate::backend::Precision;
use crate::config::{Ffn, PosEmbedKind, QkvBias, RelPosBias, VitConfig};
use crate::error::{Result, VitError};
use crate::load::MappedCheckpoint;
use crate::posembed;

/// LayerNorm parameters (`[D]` each); epsilon lives in the config.
#[derive(Module, Debug)]
pub struct Norm {
    /// Scale `[D]`.
    pub weight: Param<Tensor<1>>,
    /// Shift `[D]`.
    pub bias: Param<Tensor<1>>,
}

impl Norm {
    /// LayerNorm over the last dimension.
    pub fn forward<const N: usize>(&self, x: Tensor<N>, eps: f64) -> Tensor<N> {
        layer_norm(x, self.weight.val(), Some(self.bias.val()), eps)
    }
}

/// A linear layer stored input-major: `weight [in, out]`, `bias [out]`.
#[derive(Module, Debug)]
pub struct Lin {
    /// `[in, out]` (the transpose of PyTorch's `[out, in]`).
    pub weight: Param<Tensor<2>>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
}

impl Lin {
    /// `x · weight + bias` over the last dimension.
    pub fn forward<const N: usize>(&self, x: Tensor<N>) -> Tensor<N> {
        linear(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()))
    }
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block {
    /// Norm before attention.
    pub norm1: Norm,
    /// Fused q/k/v projection `[D, 3D]`.
    pub qkv: Lin,
    /// Output projection `[D, D]`.
    pub proj: Lin,
    /// LayerScale of the attention branch `[D]`.
    pub ls1: Option<Param<Tensor<1>>>,
    /// Norm before the FFN.
    pub norm2: Norm,
    /// First FFN layer (`fc1` `[D, H]` or SwiGLU `w12` `[D, 2H]`).
    pub fc1: Lin,
    /// Second FFN layer (`fc2`/`w3`, `[H, D]`).
    pub fc2: Lin,
    /// LayerScale of the FFN branch `[D]`.
    pub ls2: Option<Param<Tensor<1>>>,
    /// Per-block relative position table `[(2G−1)²+3, heads]` (BEiT fine-tuned style).
    pub rel_table: Option<Param<Tensor<2>>>,
}

impl Block {
    /// Pre-norm block on `x` `[B, T, D]` with `heads` attention heads, LayerNorm epsilon `eps`, FFN kind
    /// `ffn` and an optional additive attention bias `[1, heads, T, T]` (relative positions).
    pub fn forward(
        &self,
        x: Tensor<3>,
        heads: usize,
        eps: f64,
        ffn: Ffn,
        bias: Option<Tensor<4>>,
    ) -> Tensor<3> {
        let blk = self;
        let [b, n, d] = x.dims();
        let hd = d / heads;
        let y = blk.norm1.forward(x.clone(), eps);
        let qkv = blk
            .qkv
            .forward(y)
            .reshape([b, n, 3 * heads, hd])
            .swap_dims(1, 2);
        let q = qkv.clone().narrow(1, 0, heads);
        let k = qkv.clone().narrow(1, heads, heads);
        let v = qkv.narrow(1, 2 * heads, heads);
        let bias = bias.map(|t| t.expand([b, heads, n, n]));
        let o = attention(q, k, v, None, bias, AttentionModuleOptions::default());
        let o = o.swap_dims(1, 2).reshape([b, n, d]);
        let mut y = blk.proj.forward(o);
        if let Some(ls) = &blk.ls1 {
            y = y * ls.val().reshape([1, 1, d]);
        }
        let x = x + y;
        let y = blk.norm2.forward(x.clone(), eps);
        let y = match ffn {
            Ffn::Mlp => activation::gelu(blk.fc1.forward(y)),
            Ffn::Swiglu => {
                let ab = blk.fc1.forward(y);
                let hdim = ab.dims()[2] / 2;
                let a = ab.clone().narrow(2, 0, hdim);
                let bb = ab.narrow(2, hdim, hdim);
                activation::silu(a) * bb
            }
        };
        let mut y = blk.fc2.forward(y);
        if let Some(ls) = &blk.ls2 {
            y = y * ls.val().reshape([1, 1, d]);
        }
        x + y
    }
}

/// The backbone parameters.
#[derive(Module, Debug)]
pub struct VitModel {
    /// Patch projection `[3·p·p, D]` (conv weight flattened in (c, ky, kx) order, transposed).
    pub patch: Lin,
    /// CLS token `[D]`.
    pub cls_token: Option<Param<Tensor<1>>>,
    /// Register tokens `[R, D]`.
    pub registers: Option<Param<Tensor<2>>>,
    /// Stored position embedding `[prefix + G·G, D]` (prefix = 1 with a CLS token).
    pub pos_embed: Option<Param<Tensor<2>>>,
    /// Shared relative position table `[(2G−1)²+3, heads]`.
    pub rel_table: Option<Param<Tensor<2>>>,
    /// Blocks.
    pub blocks: Vec<Block>,
    /// Final norm.
    pub norm: Option<Norm>,
}

/// Tokens of one requested layer (block output followed by the final norm).
#[derive(Debug, Clone)]
pub struct LayerTokens {
    /// 1-based layer index.
    pub layer: usize,
    /// Patch tokens `[B, rows·cols, D]`, row-major over the patch grid.
    pub patches: Tensor<3>,
    /// CLS token `[B, D]` (absent for models without one).
    pub cls: Option<Tensor<2>>,
    /// Register tokens `[B, R, D]` (DINOv2 `_reg` models).
    pub registers: Option<Tensor<3>>,
}

/// Result of one forward pass.
#[derive(Debug, Clone)]
pub struct ForwardOutput {
    /// Patch-grid rows (`H / patch`).
    pub rows: usize,
    /// Patch-grid columns (`W / patch`).
    pub cols: usize,
    /// One entry per requested layer, in ascending layer order.
    pub layers: Vec<LayerTokens>,
}

/// Which implementation of the forward pass [`Vit::forward_layers`] / [`Vit::forward_blocks`] run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardPath {
    /// The host path when it applies (input and parameters are untracked f32 flex tensors), the burn
    /// path otherwise (GPU devices, autodiff-tracked parameters).
    #[default]
    Auto,
    /// Always the burn-tensor path (any device, differentiable).
    Burn,
    /// Always the host path; a forward it cannot run is an error.
    Host,
}

/// A loaded backbone: parameters + configuration + per-resolution caches.
#[derive(Debug)]
pub struct Vit {
    /// Parameters.
    pub model: VitModel,
    /// Architecture.
    pub config: VitConfig,
    device: Device,
    path: ForwardPath,
    precision: Precision,
    pos_cache: Mutex<HashMap<(usize, usize), Tensor<3>>>,
    bias_cache: Mutex<HashMap<(usize, usize, usize), Tensor<4>>>,
}

fn param1(v: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = v.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [n]), device))
}

fn param2(v: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
}

/// Transpose a row-major `[rows, cols]` matrix.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

impl Vit {
    /// Build the model from a checkpoint already mapped to canonical names (see [`crate::load_backbone`]).
    pub fn from_mapped(config: VitConfig, m: &MappedCheckpoint, device: &Device) -> Result<Vit> {
        let d = config.embed_dim;
        let p = config.patch_size;
        let h = config.mlp_hidden;
        let lin = |wname: &str, bname: Option<&str>, out: usize, inp: usize| -> Result<Lin> {
            let w = m.read(wname)?;
            let weight = param2(transpose(&w, out, inp), [inp, out], device);
            let bias = match bname {
                Some(b) => Some(param1(m.read(b)?, device)),
                None => None,
            };
            Ok(Lin { weight, bias })
        };
        let norm = |prefix: &str| -> Result<Norm> {
            Ok(Norm {
                weight: param1(m.read(&format!("{prefix}.weight"))?, device),
                bias: param1(m.read(&format!("{prefix}.bias"))?, device),
            })
        };
        let patch = lin(
            "patch_embed.proj.weight",
            Some("patch_embed.proj.bias"),
            d,
            3 * p * p,
        )?;
        let cls_token = if config.cls_token {
            Some(param1(m.read("cls_token")?, device))
        } else {
            None
        };
        let registers = if config.num_register_tokens > 0 {
            Some(param2(
                m.read("register_tokens")?,
                [config.num_register_tokens, d],
                device,
            ))
        } else {
            None
        };
        let g = config.native_grid();
        let pos_embed = if config.pos_embed == PosEmbedKind::Learned {
            let t = usize::from(config.cls_token) + g * g;
            Some(param2(m.read("pos_embed")?, [t, d], device))
        } else {
            None
        };
        let rel_len = (2 * g - 1) * (2 * g - 1) + 3;
        let rel_table = if config.rel_pos_bias == RelPosBias::Shared {
            Some(param2(
                m.read("rel_pos_table")?,
                [rel_len, config.num_heads],
                device,
            ))
        } else {
            None
        };
        let mut blocks = Vec::with_capacity(config.depth);
        for i in 0..config.depth {
            let b = format!("blocks.{i}");
            let mut qkv = lin(&format!("{b}.attn.qkv.weight"), None, 3 * d, d)?;
            qkv.bias = match config.qkv_bias {
                QkvBias::Full => Some(param1(m.read(&format!("{b}.attn.qkv.bias"))?, device)),
                QkvBias::Qv => {
                    let mut bias = m.read(&format!("{b}.attn.q_bias"))?;
                    bias.extend(std::iter::repeat_n(0.0, d));
                    bias.extend(m.read(&format!("{b}.attn.v_bias"))?);
                    Some(param1(bias, device))
                }
                QkvBias::None => None,
            };
            let (f1, f2) = match config.ffn {
                Ffn::Mlp => (
                    lin(
                        &format!("{b}.mlp.fc1.weight"),
                        Some(&format!("{b}.mlp.fc1.bias")),
                        h,
                        d,
                    )?,
                    lin(
                        &format!("{b}.mlp.fc2.weight"),
                        Some(&format!("{b}.mlp.fc2.bias")),
                        d,
                        h,
                    )?,
                ),
                Ffn::Swiglu => (
                    lin(
                        &format!("{b}.mlp.w12.weight"),
                        Some(&format!("{b}.mlp.w12.bias")),
                        2 * h,
                        d,
                    )?,
                    lin(
                        &format!("{b}.mlp.w3.weight"),
                        Some(&format!("{b}.mlp.w3.bias")),
                        d,
                        h,
                    )?,
                ),
            };
            let ls = |n: &str| -> Result<Option<Param<Tensor<1>>>> {
                Ok(if config.layer_scale {
                    Some(param1(m.read(&format!("{b}.{n}"))?, device))
                } else {
                    None
                })
            };
            blocks.push(Block {
                norm1: norm(&format!("{b}.norm1"))?,
                qkv,
                proj: lin(
                    &format!("{b}.attn.proj.weight"),
                    Some(&format!("{b}.attn.proj.bias")),
                    d,
                    d,
                )?,
                ls1: ls("ls1")?,
                norm2: norm(&format!("{b}.norm2"))?,
                fc1: f1,
                fc2: f2,
                ls2: ls("ls2")?,
                rel_table: if config.rel_pos_bias == RelPosBias::PerBlock {
                    Some(param2(
                        m.read(&format!("{b}.attn.rel_pos_table"))?,
                        [rel_len, config.num_heads],
                        device,
                    ))
                } else {
                    None
                },
            });
        }
        let norm = if config.final_norm {
            Some(norm("norm")?)
        } else {
            None
        };
        let model = VitModel {
            patch,
            cls_token,
            registers,
            pos_embed,
            rel_table,
            blocks,
            norm,
        };
        Ok(Vit::new(model, config, device.clone()))
    }

    /// Wrap parameters (e.g. freshly initialised or trained ones) with their configuration.
    pub fn new(model: VitModel, config: VitConfig, device: Device) -> Vit {
        Vit {
            model,
            config,
            device,
            path: ForwardPath::Auto,
            precision: Precision::F32,
            pos_cache: Mutex::new(HashMap::new()),
            bias_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Choose the forward implementation (default [`ForwardPath::Auto`]).
    pub fn set_forward_path(&mut self, path: ForwardPath) {
        self.path = path;
    }

    /// The forward implementation in use.
    pub fn forward_path(&self) -> ForwardPath {
        self.path
    }

    /// Run the forward pass in `precision`: the parameters are cast to its dtype (once, here), the input
    /// and the position tables on the way in, and the tokens back to f32 on the way out. Accumulation,
    /// norms and softmax run as the backend does them in that dtype. Anything but f32 takes the burn path
    /// (the flex host path is f32 only).
    ///
    /// # Errors
    /// [`VitError::Backend`] when the device does not compute in that dtype (wgpu has no bf16, for one).
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        if precision == self.precision {
            return Ok(());
        }
        if !precision.supported_on(&self.device) {
            let have: Vec<&str> = Precision::ALL
                .into_iter()
                .filter(|p| p.supported_on(&self.device))
                .map(Precision::name)
                .collect();
            return Err(VitError::Backend(format!(
                "precision {precision} is not supported by device {:?} (it supports {})",
                self.device,
                have.join(", ")
            )));
        }
        struct Cast(FloatDType);
        impl ModuleMapper for Cast {
            fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let dtype = self.0;
                p.map(|t| t.cast(dtype))
            }
        }
        // Cloning a module clones parameter handles, not their data.
        self.model = self.model.clone().map(&mut Cast(precision.dtype()));
        self.precision = precision;
        self.pos_cache.lock().expect("cache lock").clear();
        self.bias_cache.lock().expect("cache lock").clear();
        Ok(())
    }

    /// The precision of the forward pass (see [`Vit::set_precision`]).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// `t` in the forward pass's dtype (unchanged at f32).
    pub(crate) fn to_compute<const N: usize>(&self, t: Tensor<N>) -> Tensor<N> {
        match self.precision {
            Precision::F32 => t,
            p => t.cast(p.dtype()),
        }
    }

    /// `t` back in f32 (unchanged at f32).
    fn to_f32<const N: usize>(&self, t: Tensor<N>) -> Tensor<N> {
        match self.precision {
            Precision::F32 => t,
            _ => t.cast(FloatDType::F32),
        }
    }

    /// Patch-position embedding for a `rows × cols` grid, with the CLS position prepended when the model has
    /// a CLS token: `[1, prefix + rows·cols, D]`. `None` for models without absolute positions.
    pub fn position_embedding(&self, rows: usize, cols: usize) -> Result<Option<Tensor<3>>> {
        let c = &self.config;
        if c.pos_embed == PosEmbedKind::None {
            return Ok(None);
        }
        if let Some(t) = self
            .pos_cache
            .lock()
            .expect("cache lock")
            .get(&(rows, cols))
        {
            return Ok(Some(t.clone()));
        }
        let d = c.embed_dim;
        let prefix = usize::from(c.cls_token);
        let table: Vec<f32> = match c.pos_embed {
            PosEmbedKind::Learned => {
                let stored = self
                    .model
                    .pos_embed
                    .as_ref()
                    .expect("learned pos_embed present")
                    .val();
                let stored: Vec<f32> = stored
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| VitError::Config(format!("{e:?}")))?;
                let m = c.native_grid();
                // [m*m, D] -> [D, m, m]
                let grid = transpose(&stored[prefix * d..], m * m, d);
                let resized = posembed::resize_grid(
                    &grid,
                    d,
                    m,
                    rows,
                    cols,
                    c.pos_interp,
                    c.interpolate_offset,
                    c.interpolate_antialias,
                )
                    .ok_or_else(|| {
                        VitError::Config(format!(
                            "this model's position grid ({m}x{m}) cannot be resized to {rows}x{cols} (pos_interp = none)"
                        ))
                    })?;
                let mut out = stored[..prefix * d].to_vec();
                out.extend(transpose(&resized, d, rows * cols));
                out
            }
            PosEmbedKind::SincosGsd => {
                let mut out = vec![0f32; prefix * d];
                out.extend(posembed::sincos_gsd(d, rows, cols, c.gsd_ratio));
                out
            }
            PosEmbedKind::None => unreachable!("handled above"),
        };
        let t = self.to_compute(
            Tensor::<2>::from_data(
                TensorData::new(table, [prefix + rows * cols, d]),
                &self.device,
            )
            .unsqueeze::<3>(),
        );
        self.pos_cache
            .lock()
            .expect("cache lock")
            .insert((rows, cols), t.clone());
        Ok(Some(t))
    }

    /// Relative position bias `[1, heads, T, T]` for block `block` (shared tables use block = usize::MAX).
    pub(crate) fn rel_bias(
        &self,
        table: &Param<Tensor<2>>,
        block: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Tensor<4>> {
        let key = (block, rows, cols);
        if let Some(t) = self.bias_cache.lock().expect("cache lock").get(&key) {
            return Ok(t.clone());
        }
        let c = &self.config;
        let heads = c.num_heads;
        let m = c.native_grid();
        let table: Vec<f32> = table
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| VitError::Config(format!("{e:?}")))?;
        let table = posembed::resize_rel_table(&table, heads, m, rows, cols, c.rel_pos_interp).ok_or_else(|| {
            VitError::Config(format!("this model's relative-position window ({m}x{m}) cannot be resized to {rows}x{cols}"))
        })?;
        let idx = posembed::relative_position_index(rows, cols);
        let t = rows * cols + 1;
        let mut bias = vec![0f32; heads * t * t];
        for (pos, &ix) in idx.iter().enumerate() {
            for hh in 0..heads {
                bias[hh * t * t + pos] = table[ix * heads + hh];
            }
        }
        let tensor = self.to_compute(
            Tensor::<1>::from_data(TensorData::new(bias, [heads * t * t]), &self.device)
                .reshape([1, heads, t, t]),
        );
        self.bias_cache
            .lock()
            .expect("cache lock")
            .insert(key, tensor.clone());
        Ok(tensor)
    }

    /// Embed patches, add positions, insert CLS/register tokens: `[B, 3, H, W]` → `[B, T, D]`.
    pub fn embed(&self, x: Tensor<4>) -> Result<(Tensor<3>, usize, usize)> {
        let c = &self.config;
        let [b, ch, h, w] = x.dims();
        let p = c.patch_size;
        if ch != 3 {
            return Err(VitError::Config(format!(
                "input has {ch} channels, expected 3"
            )));
        }
        if h % p != 0 || w % p != 0 || h == 0 || w == 0 {
            return Err(VitError::InputSize {
                height: h,
                width: w,
                patch: p,
            });
        }
        let (rows, cols) = (h / p, w / p);
        let d = c.embed_dim;
        let patches = x
            .reshape([b, 3, rows, p, cols, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, rows * cols, 3 * p * p]);
        let mut t = self.model.patch.forward(patches);
        if let Some(cls) = &self.model.cls_token {
            let cls = cls.val().reshape([1, 1, d]).expand([b, 1, d]);
            t = Tensor::cat(vec![cls, t], 1);
        }
        if let Some(pos) = self.position_embedding(rows, cols)? {
            t = t + pos;
        }
        if let Some(reg) = &self.model.registers {
            let r = c.num_register_tokens;
            let reg = reg.val().reshape([1, r, d]).expand([b, r, d]);
            t = if c.cls_token {
                let n = t.dims()[1];
                let head = t.clone().narrow(1, 0, 1);
                let tail = t.narrow(1, 1, n - 1);
                Tensor::cat(vec![head, reg, tail], 1)
            } else {
                Tensor::cat(vec![reg, t], 1)
            };
        }
        Ok((t, rows, cols))
    }

    fn block_forward(&self, blk: &Block, x: Tensor<3>, bias: Option<Tensor<4>>) -> Tensor<3> {
        let c = &self.config;
        blk.forward(x, c.num_heads, c.ln_eps, c.ffn, bias)
    }

    /// Split the tokens `[B, T, D]` of layer `layer` into CLS, registers and patches.
    pub(crate) fn layer_tokens(&self, layer: usize, normed: Tensor<3>) -> LayerTokens {
        let c = &self.config;
        let d = c.embed_dim;
        let prefix = c.num_prefix_tokens();
        let r = c.num_register_tokens;
        let [b, n, _] = normed.dims();
        let cls = c
            .cls_token
            .then(|| normed.clone().narrow(1, 0, 1).reshape([b, d]));
        let registers = (r > 0).then(|| normed.clone().narrow(1, usize::from(c.cls_token), r));
        let patches = normed.narrow(1, prefix, n - prefix);
        LayerTokens {
            layer,
            patches,
            cls,
            registers,
        }
    }

    /// The burn-tensor forward (any device, differentiable): embed, then blocks `1..=max(wanted)`,
    /// collecting the tokens of each layer in `wanted` (sorted, deduplicated, each in `1..=depth`) with
    /// the final norm applied when `final_norm`. The public entry points, which also choose between
    /// this and the host path, are [`Vit::forward_layers`] and [`Vit::forward_blocks`].
    pub(crate) fn forward_burn(
        &self,
        x: Tensor<4>,
        wanted: &[usize],
        final_norm: bool,
    ) -> Result<ForwardOutput> {
        let c = &self.config;
        let (mut t, rows, cols) = self.embed(self.to_compute(x))?;
        let last = wanted.last().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(wanted.len());
        for (i, blk) in self.model.blocks.iter().enumerate().take(last) {
            let bias = match c.rel_pos_bias {
                RelPosBias::None => None,
                RelPosBias::Shared => Some(self.rel_bias(
                    self.model.rel_table.as_ref().expect("shared table"),
                    usize::MAX,
                    rows,
                    cols,
                )?),
                RelPosBias::PerBlock => Some(self.rel_bias(
                    blk.rel_table.as_ref().expect("block table"),
                    i,
                    rows,
                    cols,
                )?),
            };
            t = self.block_forward(blk, t, bias);
            let layer = i + 1;
            if wanted.binary_search(&layer).is_ok() {
                let normed = match (&self.model.norm, final_norm) {
                    (Some(n), true) => n.forward(t.clone(), c.ln_eps),
                    _ => t.clone(),
                };
                out.push(self.layer_tokens(layer, self.to_f32(normed)));
            }
        }
        Ok(ForwardOutput {
            rows,
            cols,
            layers: out,
        })
    }
}
