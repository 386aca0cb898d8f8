//! The extraction benchmark's dominant product, alone: `(1024, 896) x (896,
//! 4864)` (a batch of 8 x 128 tokens through the gate or up projection of a
//! Qwen2.5-0.5B-shaped MLP), through candle as `Projection` calls it (the
//! weight `(out, in)` seen transposed) and with the weight stored
//! `(in, out)`, in GFLOPS. `docs/PERFORMANCE.md` compares it with
//! PyTorch's `torch.nn.functional.linear` on the same shapes.
//!
//! ```sh
//! cargo run -p w2s-lm --example matmul_probe
//! ```

use std::time::Instant;

use candle_core::{Device, Tensor};

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let (m, k, n) = (1024, 896, 4864);
    let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
    let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
    for (name, rhs) in [
        ("weight (out, in), transposed view", w.t()?),
        ("weight (in, out), contiguous", w.t()?.contiguous()?),
    ] {
        x.matmul(&rhs)?;
        let start = Instant::now();
        for _ in 0..5 {
            x.matmul(&rhs)?;
        }
        let secs = start.elapsed().as_secs_f64() / 5.0;
        println!(
            "{name}: {:.1} GFLOPS ({:.1} ms)",
            2.0 * (m * k * n) as f64 / secs / 1e9,
            secs * 1e3
        );
    }
    Ok(())
}
