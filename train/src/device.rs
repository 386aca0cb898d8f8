//! The compute device: `--device cpu|cuda[:N]`, parsed, opened and named.
//!
//! The CPU runs the crate's own kernels ([`crate::gemm`], the fused step in
//! `head/cpu.rs`); CUDA runs the same maths as candle ops (cuBLAS products,
//! candle's kernels). CUDA needs a binary built with the `cuda` feature
//! (`scripts/build-cuda.sh`); asking for it in one built without is a clear
//! error, not a silent fall-back to the CPU. Metering (FLOPs, tensor bytes)
//! is computed from shapes alone, never from the device.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Where the training primitives run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// CUDA device `N` (`cuda` is `cuda:0`).
    Cuda(usize),
}

/// Whether this binary was built with the `cuda` feature.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Parses `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(text: &str) -> Result<DeviceSpec> {
    let bad = || {
        TrainError::invalid(
            "device",
            format!("{text:?} is not `cpu`, `cuda` or `cuda:N`"),
        )
    };
    match text {
        "cpu" => Ok(DeviceSpec::Cpu),
        "cuda" => Ok(DeviceSpec::Cuda(0)),
        _ => {
            let ordinal = text.strip_prefix("cuda:").ok_or_else(bad)?;
            if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            Ok(DeviceSpec::Cuda(ordinal.parse().map_err(|_| bad())?))
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        parse_device(s)
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = TrainError;

    fn try_from(s: String) -> Result<Self> {
        parse_device(&s)
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device. CUDA fails with a clear error in a binary built
    /// without the `cuda` feature, or when the driver or the GPU is missing.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(ordinal) => open_cuda(ordinal),
        }
    }

    /// Whether this is a GPU.
    pub fn is_gpu(self) -> bool {
        matches!(self, DeviceSpec::Cuda(_))
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|e| {
        TrainError::invalid(
            "device",
            format!("cannot open cuda:{ordinal} (is there an NVIDIA driver and GPU?): {e}"),
        )
    })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Err(TrainError::invalid(
        "device",
        format!(
            "cuda:{ordinal} was asked for, but this binary was built without the `cuda` \
             feature (build one with scripts/build-cuda.sh)"
        ),
    ))
}

/// A short name for reports: `cpu` or `cuda:N`.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(_) => match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            _ => "cuda".to_owned(),
        },
        Device::Metal(_) => "metal".to_owned(),
    }
}

/// The GPU's name as the driver reports it (`NVIDIA H200`, ...); `None` on
/// the CPU.
pub fn gpu_name(device: &Device) -> Option<String> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(d) = device {
        return d.cuda_stream().context().name().ok();
    }
    let _ = device;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_cuda_ordinals() {
        assert_eq!(parse_device("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(parse_device("cuda").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(parse_device("cuda:3").unwrap(), DeviceSpec::Cuda(3));
        for bad in [
            "", "gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", "cuda:1:2", "cuda:+1",
        ] {
            let err = parse_device(bad).unwrap_err().to_string();
            assert!(err.contains("`cpu`, `cuda` or `cuda:N`"), "{bad}: {err}");
        }
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        let json = serde_json::to_string(&DeviceSpec::Cuda(1)).unwrap();
        assert_eq!(json, "\"cuda:1\"");
        assert_eq!(
            serde_json::from_str::<DeviceSpec>(&json).unwrap(),
            DeviceSpec::Cuda(1)
        );
        assert!(serde_json::from_str::<DeviceSpec>("\"tpu\"").is_err());
    }

    #[test]
    fn the_cpu_opens_and_has_no_gpu_name() {
        let dev = DeviceSpec::Cpu.open().unwrap();
        assert_eq!(describe(&dev), "cpu");
        assert_eq!(gpu_name(&dev), None);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
        assert!(err.contains("built without the `cuda` feature"), "{err}");
        assert!(err.contains("scripts/build-cuda.sh"), "{err}");
    }
}
