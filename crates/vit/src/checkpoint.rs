//! Reading checkpoint files (`.pth` zip pickle, `.safetensors`) into a flat map of named tensors,
//! converting every float dtype to `f32` and refusing anything else with a clear error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, VitError};

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredDType {
    /// 64-bit float.
    F64,
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// Any non-float type (name kept for the error message).
    Other(&'static str),
}

impl StoredDType {
    fn name(self) -> &'static str {
        match self {
            StoredDType::F64 => "float64",
            StoredDType::F32 => "float32",
            StoredDType::F16 => "float16",
            StoredDType::BF16 => "bfloat16",
            StoredDType::Other(s) => s,
        }
    }
}

enum Source {
    Pth(pytorch_reader::Tensor),
    Safetensors {
        mmap: Arc<memmap2::Mmap>,
        name: String,
    },
}

/// One tensor of a checkpoint, not yet read.
pub struct StoredTensor {
    /// Name in the file (dotted path through nested dictionaries for `.pth`).
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: StoredDType,
    source: Source,
}

/// A checkpoint file opened lazily: names, shapes and dtypes are known; bytes are read on demand.
pub struct Checkpoint {
    /// The file.
    pub path: PathBuf,
    /// All tensors by name.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// A rewritten temporary copy the tensors are read from, when the original needed one.
    _copy: Option<tempfile::NamedTempFile>,
}

fn read_err(path: &Path, reason: impl ToString) -> VitError {
    VitError::Read {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl Checkpoint {
    /// Open a `.pth`/`.pt`/`.bin` (PyTorch zip or legacy pickle) or `.safetensors` file.
    ///
    /// The format is detected from the file's first bytes, not only its extension.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let mut head = [0u8; 9];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| VitError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let n = f.read(&mut head).map_err(|e| VitError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            if n < 9 {
                return Err(read_err(path, format!("file is only {n} bytes long")));
            }
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if looks_like_safetensors(&head) {
            Self::open_safetensors(path)
        } else if head[..2] == *b"PK"
            || head[0] == 0x80
            || matches!(ext.as_str(), "pth" | "pt" | "bin" | "ckpt")
        {
            // zip container, legacy pickle stream (protocol marker 0x80), or a PyTorch extension
            Self::open_pth(path)
        } else if ext == "safetensors" {
            Self::open_safetensors(path)
        } else {
            Err(VitError::Format {
                path: path.to_path_buf(),
            })
        }
    }

    fn open_pth(path: &Path) -> Result<Checkpoint> {
        let mut copy_kept = None;
        let reader = match pytorch_reader::PytorchReader::new(path) {
            Ok(r) => r,
            Err(e) => {
                // zip 9.8.2 (under pytorch-reader) mislocates the central directory of a valid
                // zip64-terminated archive when the first central header is exactly 76 bytes long
                // (the size of the zip64 end records), i.e. torch.save archives whose root folder
                // name is 21 characters. Retry on a copy without the (unneeded) zip64 records.
                let Some(copy) = zip32_copy(path)? else {
                    return Err(read_err(path, e));
                };
                let r = pytorch_reader::PytorchReader::new(copy.path())
                    .map_err(|_| read_err(path, &e))?;
                // Tensors are read lazily from the copy: it lives as long as the checkpoint.
                copy_kept = Some(copy);
                r
            }
        };
        let mut tensors = BTreeMap::new();
        for (name, t) in reader.into_tensors() {
            use pytorch_reader::DType as D;
            let dtype = match t.dtype() {
                D::F64 => StoredDType::F64,
                D::F32 => StoredDType::F32,
                D::F16 => StoredDType::F16,
                D::BF16 => StoredDType::BF16,
                D::I64 => StoredDType::Other("int64"),
                D::I32 => StoredDType::Other("int32"),
                D::I16 => StoredDType::Other("int16"),
                D::I8 => StoredDType::Other("int8"),
                D::U64 => StoredDType::Other("uint64"),
                D::U32 => StoredDType::Other("uint32"),
                D::U16 => StoredDType::Other("uint16"),
                D::U8 => StoredDType::Other("uint8"),
                D::Bool => StoredDType::Other("bool"),
            };
            let shape = t.shape().to_vec();
            tensors.insert(
                name.clone(),
                StoredTensor {
                    name,
                    shape,
                    dtype,
                    source: Source::Pth(t),
                },
            );
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            tensors,
            _copy: copy_kept,
        })
    }

    fn open_safetensors(path: &Path) -> Result<Checkpoint> {
        let file = std::fs::File::open(path).map_err(|e| VitError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        // SAFETY: the file is opened read-only and not modified by us while mapped.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| VitError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mmap = Arc::new(mmap);
        let st = safetensors::SafeTensors::deserialize(&mmap).map_err(|e| read_err(path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            use safetensors::Dtype as D;
            let dtype = match view.dtype() {
                D::F64 => StoredDType::F64,
                D::F32 => StoredDType::F32,
                D::F16 => StoredDType::F16,
                D::BF16 => StoredDType::BF16,
                D::I64 => StoredDType::Other("int64"),
                D::I32 => StoredDType::Other("int32"),
                D::I16 => StoredDType::Other("int16"),
                D::I8 => StoredDType::Other("int8"),
                D::U8 => StoredDType::Other("uint8"),
                D::BOOL => StoredDType::Other("bool"),
                _ => StoredDType::Other("unsupported"),
            };
            let shape = view.shape().to_vec();
            tensors.insert(
                name.clone(),
                StoredTensor {
                    name: name.clone(),
                    shape,
                    dtype,
                    source: Source::Safetensors {
                        mmap: mmap.clone(),
                        name,
                    },
                },
            );
        }
        drop(st);
        Ok(Checkpoint {
            path: path.to_path_buf(),
            tensors,
            _copy: None,
        })
    }

    /// Read one tensor as `f32` (row-major), converting f64/f16/bf16.
    ///
    /// Errors: non-float dtype ([`VitError::DType`]), NaN/Inf values ([`VitError::NonFinite`]),
    /// storage truncated or corrupt ([`VitError::Read`]). All name the file and key.
    pub fn read_f32(&self, key: &str) -> Result<Vec<f32>> {
        let t = self
            .tensors
            .get(key)
            .ok_or_else(|| read_err(&self.path, format!("no tensor named `{key}`")))?;
        let bytes: Vec<u8> = match &t.source {
            Source::Pth(pt) => pt.read().map_err(|e| read_err(&self.path, e))?,
            Source::Safetensors { mmap, name } => {
                let st = safetensors::SafeTensors::deserialize(mmap)
                    .map_err(|e| read_err(&self.path, e))?;
                st.tensor(name)
                    .map_err(|e| read_err(&self.path, e))?
                    .data()
                    .to_vec()
            }
        };
        let n: usize = t.shape.iter().product();
        let values: Vec<f32> = match t.dtype {
            StoredDType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            StoredDType::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32)
                .collect(),
            StoredDType::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            StoredDType::BF16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            StoredDType::Other(name) => {
                return Err(VitError::DType {
                    path: self.path.clone(),
                    key: key.to_string(),
                    found: name.to_string(),
                });
            }
        };
        if values.len() != n {
            return Err(read_err(
                &self.path,
                format!(
                    "tensor `{key}` has {} values, its shape {:?} needs {n}",
                    values.len(),
                    t.shape
                ),
            ));
        }
        let mut bad = values.iter().enumerate().filter(|(_, v)| !v.is_finite());
        if let Some((first, _)) = bad.next() {
            return Err(VitError::NonFinite {
                path: self.path.clone(),
                key: key.to_string(),
                count: 1 + bad.count(),
                first,
            });
        }
        Ok(values)
    }

    /// dtype name of a stored tensor (for messages).
    pub fn dtype_name(&self, key: &str) -> Option<&'static str> {
        self.tensors.get(key).map(|t| t.dtype.name())
    }
}

/// A safetensors file starts with a little-endian u64 header length followed by `{`.
fn looks_like_safetensors(head: &[u8; 9]) -> bool {
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    n > 1 && n < 100_000_000 && head[8] == b'{'
}

/// If `path` is a zip archive ending with zip64 end records whose values all fit the classic
/// end record, write a copy without them (to a temporary file) and return it.
fn zip32_copy(path: &Path) -> Result<Option<tempfile::NamedTempFile>> {
    let data = std::fs::read(path).map_err(|e| VitError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let n = data.len();
    if n < 22 + 20 + 56 || data[..2] != *b"PK" {
        return Ok(None);
    }
    let eocd = n - 22; // torch.save writes no archive comment
    let loc = eocd - 20;
    let z64 = loc - 56;
    if data[eocd..eocd + 4] != *b"PK\x05\x06"
        || data[loc..loc + 4] != *b"PK\x06\x07"
        || data[z64..z64 + 4] != *b"PK\x06\x06"
    {
        return Ok(None);
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().expect("4 bytes"));
    if u16_at(eocd + 10) == 0xFFFF
        || u32_at(eocd + 12) == 0xFFFF_FFFF
        || u32_at(eocd + 16) == 0xFFFF_FFFF
    {
        return Ok(None); // genuinely needs zip64
    }
    let mut out = tempfile::NamedTempFile::new().map_err(|e| VitError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    use std::io::Write;
    out.write_all(&data[..z64])
        .and_then(|_| out.write_all(&data[eocd..]))
        .and_then(|_| out.flush())
        .map_err(|e| VitError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    Ok(Some(out))
}
