//! Small safetensors helpers: writing named f32 tensors atomically, reading one f32 tensor, and reading
//! a file's header metadata without loading its tensors.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use crate::error::{Context, EvalError, Result, bail};

/// Named f32 tensors: name → (shape, values).
pub type F32Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Write `tensors` with header metadata `meta` to `path` atomically (temp file, fsync, rename).
pub fn write_f32(path: &Path, tensors: &F32Tensors, meta: BTreeMap<String, String>) -> Result<()> {
    let bytes: BTreeMap<&String, Vec<u8>> = tensors
        .iter()
        .map(|(k, (_, v))| (k, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = tensors
        .iter()
        .map(|(k, (shape, _))| {
            Ok((
                k.clone(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    &bytes[k],
                )
                .with_context(|| format!("tensor `{k}` of {}", path.display()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let data = safetensors::serialize(views, Some(meta.into_iter().collect()))?;
    patchlens_store::write_atomic(path, &data)?;
    Ok(())
}

/// Read the float32 tensor `name` of `path`: (shape, values).
pub fn read_f32(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| EvalError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let t = st
        .tensor(name)
        .with_context(|| format!("{}: no tensor named `{name}`", path.display()))?;
    if t.dtype() != safetensors::Dtype::F32 {
        bail!(
            "{}: `{name}` must be float32, found {:?}",
            path.display(),
            t.dtype()
        );
    }
    let data = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((t.shape().to_vec(), data))
}

/// The header metadata (`__metadata__`) of a safetensors file, read without its tensors.
pub fn metadata(path: &Path) -> Result<HashMap<String, String>> {
    let mut f = std::fs::File::open(path).map_err(|e| EvalError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let n = u64::from_le_bytes(n);
    if n > 100 << 20 {
        bail!("{}: safetensors header of {n} bytes", path.display());
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h)
        .with_context(|| format!("{}: truncated safetensors header", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&h)
        .with_context(|| format!("{}: safetensors header is not JSON", path.display()))?;
    let mut out = HashMap::new();
    if let Some(m) = v.get("__metadata__").and_then(|m| m.as_object()) {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    Ok(out)
}
