//! The machine a benchmark ran on: CPU model, cores, threads, load.

/// What the report says about the machine.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// `model name` from `/proc/cpuinfo` ("unknown" elsewhere).
    pub(crate) cpu: String,
    /// Logical CPUs this process may use.
    pub(crate) cores: usize,
    /// Threads candle's CPU kernels use (`RAYON_NUM_THREADS`, else the
    /// cores), also given to PyTorch.
    pub(crate) threads: usize,
    /// Whether the CPU has AVX-512F (the train step's GEMM path).
    pub(crate) avx512: bool,
}

impl Machine {
    pub(crate) fn describe() -> Self {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = info
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: candle_core::utils::get_num_threads(),
            avx512: has_avx512f(),
        }
    }
}

/// The 1-, 5- and 15-minute load averages from `/proc/loadavg`.
pub(crate) fn load() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

#[cfg(target_arch = "x86_64")]
fn has_avx512f() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512f() -> bool {
    false
}
