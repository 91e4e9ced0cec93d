//! Run-time backend choice: `--backend flex|wgpu[:N]|cuda[:N]` and `--precision f32|f16|bf16` (parsed
//! and opened by [`patchlens_vit::backend`]; wgpu/cuda need the cargo features of the same name).

use clap::Args;
pub use patchlens_vit::{Backend, Precision};
use patchlens_vit::{BackendKind, Device};

/// Where the backbone runs and in which precision.
#[derive(Args, Clone, Copy, Debug)]
pub struct DeviceArgs {
    /// Compute backend: flex (CPU), wgpu, wgpu:N, cuda, cuda:N (N: device index; wgpu / cuda need the
    /// cargo features of the same name).
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// Float precision of the backbone's forward pass (f16 / bf16 where the device computes in them;
    /// tokens come back as f32 either way).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

impl DeviceArgs {
    /// Opens the device (one clear error when it is absent or not built in).
    pub fn device(&self) -> anyhow::Result<Device> {
        Ok(self.backend.device()?)
    }

    /// Run metadata for results.json: git commit, date, backend, device, precision, threads, and the
    /// command line (`extra.command`).
    pub fn run_info(&self) -> patchlens_report::RunInfo {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let device = match self.backend.kind {
            BackendKind::Flex => "cpu".to_string(),
            _ => self.backend.to_string(),
        };
        let mut info = patchlens_report::RunInfo::collect(
            &repo,
            self.backend.name(),
            &device,
            rayon::current_num_threads(),
        );
        info.precision = self.precision.to_string();
        info.extra.insert(
            "command".into(),
            std::env::args().collect::<Vec<_>>().join(" ").into(),
        );
        info
    }
}
