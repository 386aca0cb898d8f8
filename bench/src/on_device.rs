//! The benchmarks on a chosen device (`--device`), each printed as one JSON
//! object: what `scripts/gpu-check.sh` reads.
//!
//! - `--throughput-only --device D`: the throughput benchmark's two heads on
//!   `D`, in this process, and `bench/torch_throughput.py` on the same kind
//!   of device (`cuda` or `cpu`), same shapes.
//! - `--extraction --device D`: feature extraction (`w2s-lm`) on `D`
//!   against PyTorch `transformers` on the same kind of device, the
//!   workloads of [`crate::extraction`].

use anyhow::Result;
use serde_json::{Value, json};
use w2s_train::Arch;
use w2s_train::device::{DeviceSpec, describe, gpu_name};

use crate::throughput::{Shapes, Torch, rust, torch_on};

/// Both heads on `spec`, and PyTorch on the same kind of device.
pub(crate) fn throughput(spec: DeviceSpec) -> Result<Value> {
    let dev = spec.open()?;
    let s = Shapes::STANDARD;
    let linear = rust(Arch::Linear, s, &dev)?;
    let mlp = rust(
        Arch::Mlp {
            hidden: s.hidden as u32,
        },
        s,
        &dev,
    )?;
    let threads = w2s_train::gemm::threads();
    let torch = torch_on(s, threads, if spec.is_gpu() { "cuda" } else { "cpu" });
    let (torch_version, torch_linear, torch_mlp, torch_missing) = match torch {
        Torch::Ran {
            version,
            linear,
            mlp,
        } => (Some(version), Some(linear), Some(mlp), None),
        Torch::Missing(why) => (None, None, None, Some(why)),
    };
    Ok(json!({
        "device": describe(&dev),
        "gpu": gpu_name(&dev),
        "threads": threads,
        "shapes": {"n": s.n, "d": s.d, "classes": s.classes, "hidden": s.hidden, "batch": s.batch},
        "linear_examples_per_s": linear,
        "mlp_examples_per_s": mlp,
        "torch_version": torch_version,
        "torch_linear_examples_per_s": torch_linear,
        "torch_mlp_examples_per_s": torch_mlp,
        "torch_missing": torch_missing,
    }))
}

/// Feature extraction on `spec`, and PyTorch `transformers` on the same
/// kind of device: the workloads of [`crate::extraction`].
pub(crate) fn extraction(spec: DeviceSpec) -> Result<Value> {
    let dev = spec.open()?;
    let threads = w2s_train::gemm::threads();
    let figures = crate::extraction::measure(threads, &dev)?;
    let rows: Vec<Value> = figures
        .iter()
        .map(|f| {
            json!({
                "workload": f.workload,
                "shape": f.shape,
                "tokens_per_s": f.rust_tps,
                "torch_tokens_per_s": f.torch_tps.as_ref().ok(),
                "torch_missing": f.torch_tps.as_ref().err(),
            })
        })
        .collect();
    Ok(json!({
        "device": describe(&dev),
        "gpu": gpu_name(&dev),
        "threads": threads,
        "extraction": rows,
    }))
}
