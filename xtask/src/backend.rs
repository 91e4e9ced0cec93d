//! Run-time backend choice: `--backend flex|wgpu|cuda` (wgpu/cuda need the cargo features of the same name).

use anyhow::{Result, bail};
use patchlens_vit::Device;

/// Compute backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// burn-flex on the CPU (default; always built).
    Flex,
    /// wgpu (Vulkan/Metal/DX12); build with `--features wgpu`.
    Wgpu,
    /// CUDA; build with `--features cuda`.
    Cuda,
}

impl Backend {
    /// The burn device for this backend, or a clear error if it was not compiled in.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => {
                #[cfg(feature = "wgpu")]
                {
                    Ok(Device::wgpu(patchlens_vit::DeviceKind::DefaultDevice))
                }
                #[cfg(not(feature = "wgpu"))]
                bail!(
                    "this binary was built without the `wgpu` feature: run `cargo xtask --features wgpu ...` (e.g. `cargo run -p xtask --features wgpu -- ...`)"
                )
            }
            Backend::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    Ok(Device::cuda(0))
                }
                #[cfg(not(feature = "cuda"))]
                bail!(
                    "this binary was built without the `cuda` feature: run `cargo run -p xtask --features cuda -- ...`"
                )
            }
        }
    }

    /// Name as written in results files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Device as written in results files (`cpu` for flex).
    pub fn device_name(self) -> &'static str {
        match self {
            Backend::Flex => "cpu",
            other => other.name(),
        }
    }

    /// Run metadata for results.json on this backend: git commit, date, backend, device, threads, and
    /// the command line (`extra.command`).
    pub fn run_info(self) -> patchlens_report::RunInfo {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut info = patchlens_report::RunInfo::collect(
            &repo,
            self.name(),
            self.device_name(),
            rayon::current_num_threads(),
        );
        info.extra.insert(
            "command".into(),
            std::env::args().collect::<Vec<_>>().join(" ").into(),
        );
        info
    }
}
