//! Run-time choice of the compute device and of the backbone's float precision.
//!
//! A backend is written `flex`, `wgpu`, `wgpu:N`, `cuda` or `cuda:N` ([`Backend`]'s `FromStr`); `N`
//! counts the devices burn enumerates for that backend on this machine (`wgpu` lists every adapter:
//! discrete, integrated, virtual and CPU ones such as Mesa's lavapipe); without `N` the backend picks its
//! default (wgpu: the best adapter, a discrete GPU before a software one; CUDA: device 0). `wgpu` and `cuda` need the cargo
//! features of the same name; asking for one this binary was built without, or for a device index the
//! machine does not have, is one error line that says which devices there are.
//!
//! A precision is `f32`, `f16` or `bf16` ([`Precision`]): the dtype the backbone's parameters and
//! activations have in its forward pass (see [`crate::Vit::set_precision`]); tokens come back as f32.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, FloatDType};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VitError};

/// The compute backends patchlens knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// burn-flex on the CPU (always built; the host fast paths apply to it).
    Flex,
    /// wgpu: Vulkan, Metal or DX12 (cargo feature `wgpu`).
    Wgpu,
    /// CUDA (cargo feature `cuda`).
    Cuda,
}

impl BackendKind {
    /// The backend's name as written on the command line and in results files.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn compiled(self) -> bool {
        match self {
            BackendKind::Flex => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }
}

/// A backend and, optionally, which of its devices (`None`: the backend's default device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backend {
    /// The backend.
    pub kind: BackendKind,
    /// Device index among the backend's devices on this machine.
    pub index: Option<usize>,
}

impl Backend {
    /// The CPU backend.
    pub const FLEX: Backend = Backend {
        kind: BackendKind::Flex,
        index: None,
    };

    /// The backend's name (`flex`, `wgpu`, `cuda`), without the device index.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Opens the burn device.
    ///
    /// # Errors
    /// [`VitError::Backend`] when the binary was built without the backend's feature, the machine has
    /// no device of that backend, or `index` is past the last one (the message lists the devices).
    pub fn device(&self) -> Result<Device> {
        if !self.kind.compiled() {
            let feature = self.kind.name();
            return Err(VitError::Backend(format!(
                "backend `{self}`: this binary was built without the `{feature}` feature (build with `--features {feature}`, e.g. `cargo run -p xtask --features {feature} -- ...`)"
            )));
        }
        match self.kind {
            BackendKind::Flex => match self.index {
                None | Some(0) => Ok(Device::flex()),
                Some(_) => Err(VitError::Backend(format!(
                    "backend `{self}`: flex has one device, the CPU (write `flex`)"
                ))),
            },
            BackendKind::Wgpu | BackendKind::Cuda => self.gpu_device(),
        }
    }

    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn gpu_device(&self) -> Result<Device> {
        let devices = enumerate(self.kind);
        let devices = devices.map_err(|why| {
            VitError::Backend(format!(
                "backend `{self}`: cannot list the {} devices: {why}",
                self.kind.name()
            ))
        })?;
        if devices.is_empty() {
            return Err(VitError::Backend(format!(
                "backend `{self}`: this machine has no {} device{}",
                self.kind.name(),
                match self.kind {
                    BackendKind::Cuda => " (no NVIDIA GPU, or its driver is not installed)",
                    _ =>
                        " (no Vulkan/Metal/DX12 adapter; on Linux without a GPU, Mesa's lavapipe provides one: Debian packages mesa-vulkan-drivers libvulkan1)",
                }
            )));
        }
        match self.index {
            // The backend's own default: wgpu's best adapter (a discrete GPU before a software one), CUDA 0.
            None => Ok(default_device(self.kind)),
            Some(i) if i < devices.len() => Ok(devices[i].clone()),
            Some(i) => {
                let list: Vec<String> = devices
                    .iter()
                    .enumerate()
                    .map(|(j, d)| format!("{}:{j} = {d:?}", self.kind.name()))
                    .collect();
                Err(VitError::Backend(format!(
                    "backend `{self}`: no {} device {i}; this machine has {}: {}",
                    self.kind.name(),
                    devices.len(),
                    list.join(", ")
                )))
            }
        }
    }

    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    fn gpu_device(&self) -> Result<Device> {
        unreachable!("checked by BackendKind::compiled")
    }
}

/// The backend's default device (only called for a compiled-in GPU backend).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn default_device(kind: BackendKind) -> Device {
    match kind {
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Device::cuda(0),
        _ => Device::flex(),
    }
}

/// The devices burn enumerates for a GPU backend; a backend that panics while listing (e.g. a missing
/// driver library) is an error carrying the panic's message.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn enumerate(kind: BackendKind) -> std::result::Result<Vec<Device>, String> {
    use burn::tensor::DeviceType;
    let ty = match kind {
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => DeviceType::Wgpu,
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => DeviceType::Cuda,
        _ => return Ok(Vec::new()),
    };
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let listed = std::panic::catch_unwind(|| Device::enumerate(ty).to_vec());
    std::panic::set_hook(quiet);
    listed.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked".into())
    })
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}:{i}", self.kind.name()),
            None => f.write_str(self.kind.name()),
        }
    }
}

impl FromStr for Backend {
    type Err = VitError;

    fn from_str(s: &str) -> Result<Self> {
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => {
                let i = i.parse::<usize>().map_err(|_| {
                    VitError::Backend(format!(
                        "backend `{s}`: the device index must be a number, as in `wgpu:1`, found `{i}`"
                    ))
                })?;
                (n, Some(i))
            }
            None => (s, None),
        };
        let kind = match name {
            "flex" => BackendKind::Flex,
            "wgpu" => BackendKind::Wgpu,
            "cuda" => BackendKind::Cuda,
            other => {
                return Err(VitError::Backend(format!(
                    "unknown backend `{other}`: expected flex, wgpu, wgpu:N, cuda or cuda:N"
                )));
            }
        };
        Ok(Backend { kind, index })
    }
}

/// Float precision of the backbone's forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE single precision (the default; the reference implementations' precision).
    #[default]
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
}

impl Precision {
    /// Every precision, in the order of the command-line help.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Bf16];

    /// The name as written on the command line and in results files.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The burn float dtype.
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// Whether `device` computes in this precision.
    pub fn supported_on(self, device: &Device) -> bool {
        self == Precision::F32 || device.supports_dtype(self.dtype())
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = VitError;

    fn from_str(s: &str) -> Result<Self> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                VitError::Backend(format!(
                    "unknown precision `{s}`: expected f32, f16 or bf16"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_print_back() {
        for s in ["flex", "wgpu", "wgpu:1", "cuda", "cuda:0", "cuda:3"] {
            let b: Backend = s.parse().unwrap();
            assert_eq!(b.to_string(), s);
        }
        let b: Backend = "cuda:1".parse().unwrap();
        assert_eq!((b.kind, b.index), (BackendKind::Cuda, Some(1)));
        let e = "vulkan".parse::<Backend>().unwrap_err().to_string();
        assert!(e.contains("unknown backend `vulkan`"), "{e}");
        let e = "wgpu:x".parse::<Backend>().unwrap_err().to_string();
        assert!(
            e.contains("device index must be a number") && e.contains("`x`"),
            "{e}"
        );
    }

    #[test]
    fn flex_has_one_device() {
        assert_eq!(Backend::FLEX.device().unwrap(), Device::flex());
        let e = "flex:1".parse::<Backend>().unwrap().device().unwrap_err();
        assert!(e.to_string().contains("flex has one device"), "{e}");
    }

    #[test]
    fn a_backend_not_built_in_is_one_clear_error() {
        for kind in [BackendKind::Wgpu, BackendKind::Cuda] {
            if kind.compiled() {
                continue;
            }
            let b = Backend {
                kind,
                index: Some(1),
            };
            let e = b.device().unwrap_err().to_string();
            assert!(
                e.contains(&format!("built without the `{}` feature", kind.name())),
                "{e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn precisions_parse_and_map_to_dtypes() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        assert_eq!(Precision::Bf16.dtype(), FloatDType::BF16);
        assert!("fp16".parse::<Precision>().is_err());
        assert!(Precision::F32.supported_on(&Device::flex()));
    }
}
