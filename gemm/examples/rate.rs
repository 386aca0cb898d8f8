//! GFLOPS of `w2s_gemm::gemm` on the frozen forward's shapes (a batch of
//! tokens times Qwen2.5-0.5B's and SmolLM2-135M's projections), next to the
//! machine's measured FMA peak (independent register FMAs, no memory).
//!
//! `cargo run -p w2s-gemm --example rate -- [threads]`

use std::time::Instant;

use w2s_gemm::{Lhs, Rows, gemm};

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|t| t.parse().expect("threads"))
        .unwrap_or_else(w2s_gemm::threads);
    let one = fma_peak_gflops();
    let all: f64 = std::thread::scope(|s| {
        let runs: Vec<_> = (0..threads).map(|_| s.spawn(fma_peak_gflops)).collect();
        runs.into_iter()
            .map(|r| r.join().expect("peak thread"))
            .sum()
    });
    let peak = all / threads as f64;
    println!("FMA peak: 1 thread alone {one:.1} GFLOPS, {threads} at once {all:.1}");
    // (m, k, n): 232 tokens (8 tweets) through qkv, o, gate+up, down.
    let shapes = [
        ("qwen qkv", 232, 896, 1152),
        ("qwen o", 232, 896, 896),
        ("qwen gate+up", 232, 896, 9728),
        ("qwen down", 232, 4864, 896),
        ("smol gate+up", 232, 576, 3072),
        ("smol down", 232, 1536, 576),
        ("square 1024", 1024, 1024, 1024),
        // The LoRA step on SmolLM2 (8 rows of 64 tokens): the frozen
        // products, an adapter's two skinny ones (rank 32) and one
        // attention group's scores.
        ("step q", 512, 576, 576),
        ("step gate", 512, 576, 1536),
        ("step down", 512, 1536, 576),
        ("adapter A", 512, 576, 32),
        ("adapter B", 512, 32, 1536),
        ("scores", 192, 64, 64),
    ];
    for (name, m, k, n) in shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104729) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let mut c = vec![0f32; m * n];
        let mut best = f64::INFINITY;
        for _ in 0..15 {
            c.fill(0.0);
            let t = Instant::now();
            gemm(Lhs::Rows(Rows::dense(&a, k)), &b, n, &mut c, threads);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let gflops = 2.0 * (m * k * n) as f64 / best / 1e9;
        println!(
            "{name:>14} {m}x{k}x{n}: {gflops:6.1} GFLOPS ({:.0}% of peak), c[7] = {}",
            100.0 * gflops / (peak * threads as f64),
            c[7]
        );
    }
}

/// One core's f32 FMA rate: 12 independent 8-lane FMA chains.
fn fma_peak_gflops() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[allow(unsafe_code)]
        // SAFETY: the features are present.
        return unsafe { peak_avx2() };
    }
    0.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn peak_avx2() -> f64 {
    use std::arch::x86_64::*;
    let iters = 20_000_000u64;
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let x = _mm256_set1_ps(0.999_999);
    let y = _mm256_set1_ps(1e-7);
    let t = Instant::now();
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    // Every chain must be used, or the compiler drops it.
    let sum = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, a| _mm256_add_ps(s, *a));
    let mut out = [0f32; 8];
    #[allow(unsafe_code)]
    // SAFETY: `out` holds 8 values.
    unsafe {
        _mm256_storeu_ps(out.as_mut_ptr(), sum)
    };
    std::hint::black_box(out);
    (iters * 12 * 16) as f64 / secs / 1e9
}
