//! The compute device.

use candle_core::Device;

use crate::error::Result;

/// The device the `cuda` feature and the request select: CUDA device 0 when
/// built with `cuda` and `prefer_gpu` is set, the CPU otherwise.
pub fn select(prefer_gpu: bool) -> Result<Device> {
    #[cfg(feature = "cuda")]
    if prefer_gpu {
        return Ok(Device::new_cuda(0)?);
    }
    let _ = prefer_gpu;
    Ok(Device::Cpu)
}

/// A short name for reports: `cpu` or `cuda:0`.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(_) => "cuda:0".to_owned(),
        Device::Metal(_) => "metal".to_owned(),
    }
}

/// The device a `--device` string names: `cpu`, `cuda` (device 0) or
/// `cuda:N`. CUDA needs a build with the `cuda` feature; without it the
/// error says so.
pub fn parse(spec: &str) -> Result<Device> {
    let ordinal = match spec {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => match other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => {
                return Err(crate::TrainError::invalid(
                    "device",
                    format!("{other:?} is not cpu, cuda or cuda:N"),
                ));
            }
        },
    };
    #[cfg(feature = "cuda")]
    return Ok(Device::new_cuda(ordinal)?);
    #[cfg(not(feature = "cuda"))]
    Err(crate::TrainError::invalid(
        "device",
        format!("cuda:{ordinal} needs a build with the `cuda` feature"),
    ))
}
