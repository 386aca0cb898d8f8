//! f32 matrix products on the CPU with a fixed summation order, for the
//! fused train step (`w2s-train`) and the frozen forward of feature
//! extraction (`w2s-lm`).
//!
//! [`gemm`] computes `c += a * b` where `a` is a set of rows (optionally
//! gathered from a larger matrix by index, which fuses the batch's row
//! gather into the product) or the transpose of one, `b` is row-major and
//! `c` is row-major. It was written for the train step's shapes (a few
//! hundred rows, a feature width of hundreds to thousands, few classes)
//! and serves a decoder's projections too (a batch's tokens times a
//! weight matrix stored `(in, out)`).
//!
//! **The order is part of the contract.** Every output value is one chain
//! of fused multiply-adds over `k` in ascending order, starting from the
//! value already in `c` (callers put zeros or the bias there):
//! `c = fma(a[i][k], b[k][j], c)` for `k = 0, 1, ..., K - 1`. Tiling, the
//! vector width and the thread split decide only which values are computed
//! together, never the order within one value, and a fused multiply-add is
//! exactly rounded on every path. So results are bit-identical run to run,
//! across thread counts (threads split the rows of `c`, never `k`), and
//! across the AVX-512, AVX2+FMA and portable paths, that is across x86 CPUs
//! (the test `every_path_gives_the_same_bits` checks the three on this
//! machine). A BLAS would be faster on some shapes but gives none of this.
//!
//! Paths, chosen at run time: AVX-512F (8 x 32 register tiles over the
//! operands in place), AVX2 with FMA (6 x 16 tiles over packed copies of
//! the operands, `packed_avx2`), else a portable loop over `f32::mul_add`.

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod packed_avx2;
mod portable;
pub mod vector;
#[cfg(target_arch = "x86_64")]
mod vector_avx2;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use vector::{LANES, axpy, dot_lanes};

/// Values of `k` per pass over a block of `c`: a block of `b` this deep
/// stays in the L1 cache while the rows of `a` stream past it.
const DEPTH_BLOCK: usize = 256;

/// Columns of `b` per panel: a `DEPTH_BLOCK x WIDTH_BLOCK` block of `b`
/// (256 KiB) stays in a core's L2 cache while every row of `a` passes over
/// it (a multiple of every path's tile width, 32 and 16).
const WIDTH_BLOCK: usize = 256;

/// Products with fewer multiply-adds than this run on one thread: waking
/// a second one costs more than it saves.
const PARALLEL_MIN_FMAS: usize = 1 << 22;

/// The thread count the CPU kernels split products over: candle's (from
/// `RAYON_NUM_THREADS`, else the physical cores), read once per process.
/// candle asks for it on every matmul, which on Linux VMs without per-CPU
/// `cpu_capacity` parses `/proc/cpuinfo` each time (about 15% of a
/// training run, measured before this crate had its own GEMM).
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(candle_core::utils::get_num_threads)
}

/// A set of rows of a row-major matrix of width `cols`: all of its rows, or
/// the ones an index names (a gather that costs nothing).
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    data: &'a [f32],
    cols: usize,
    index: Option<&'a [u32]>,
}

impl<'a> Rows<'a> {
    /// Every row of `data`, `cols` values each. Panics if `cols` is zero or
    /// does not divide `data.len()`.
    pub fn dense(data: &'a [f32], cols: usize) -> Self {
        assert!(
            cols > 0 && data.len().is_multiple_of(cols),
            "rows of {cols} values"
        );
        Self {
            data,
            cols,
            index: None,
        }
    }

    /// Rows `index[0], index[1], ...` of `data`. Panics if an index is out of
    /// range (callers validate indices first).
    pub fn gathered(data: &'a [f32], cols: usize, index: &'a [u32]) -> Self {
        let all = Self::dense(data, cols);
        let count = all.count();
        assert!(
            index.iter().all(|&r| (r as usize) < count),
            "row index out of range"
        );
        Self {
            index: Some(index),
            ..all
        }
    }

    /// Number of rows.
    pub fn count(&self) -> usize {
        match self.index {
            Some(ix) => ix.len(),
            None => self.data.len() / self.cols,
        }
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &'a [f32] {
        let at = match self.index {
            Some(ix) => ix[r] as usize,
            None => r,
        };
        &self.data[at * self.cols..(at + 1) * self.cols]
    }

    fn all(&self) -> Vec<&'a [f32]> {
        (0..self.count()).map(|r| self.row(r)).collect()
    }
}

/// The left operand of a product.
#[derive(Debug, Clone, Copy)]
pub enum Lhs<'a> {
    /// `a` is these rows: `(rows, cols)`.
    Rows(Rows<'a>),
    /// `a` is the transpose of these rows: `(cols, rows)`.
    Transposed(Rows<'a>),
}

impl Lhs<'_> {
    /// `(m, k)`: rows and columns of `a`.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Lhs::Rows(r) => (r.count(), r.cols()),
            Lhs::Transposed(r) => (r.cols(), r.count()),
        }
    }
}

/// A code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// AVX-512F.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// `f32::mul_add` loops.
    Portable,
}

impl Path {
    /// The fastest path this CPU runs.
    pub(crate) fn best() -> Self {
        static BEST: OnceLock<Path> = OnceLock::new();
        *BEST.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Path::Avx512;
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    return Path::Avx2;
                }
            }
            Path::Portable
        })
    }

    /// Every path this CPU runs (for tests).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Self> {
        let mut paths = vec![Path::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                paths.push(Path::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                paths.push(Path::Avx512);
            }
        }
        paths
    }
}

/// The operands of one block of work, as the kernels see them: `a`'s source
/// rows, `b` (`k x n`, row-major) and the rows `rows` of `c`.
pub(crate) struct Block<'a, 'c> {
    /// `Lhs::Rows`: the rows of `a`. `Lhs::Transposed`: the rows of `a`'s
    /// transpose, one per value of `k`.
    pub(crate) source: &'a [&'a [f32]],
    /// Whether `a` is the transpose of `source`.
    pub(crate) transposed: bool,
    /// First row of `a` (and of `c`) in this block.
    pub(crate) row0: usize,
    /// Rows in this block.
    pub(crate) rows: usize,
    /// `b`, `k x n`.
    pub(crate) b: &'a [f32],
    /// Columns of `b` and `c`.
    pub(crate) n: usize,
    /// Depth of the product.
    pub(crate) k: usize,
    /// The block's rows of `c`, `rows x n`.
    pub(crate) c: &'c mut [f32],
}

impl Block<'_, '_> {
    /// `a[i][kk]` for the block's row `i` (the portable path's accessor).
    #[inline(always)]
    pub(crate) fn a(&self, i: usize, kk: usize) -> f32 {
        if self.transposed {
            self.source[kk][self.row0 + i]
        } else {
            self.source[self.row0 + i][kk]
        }
    }
}

/// `c += a * b`, with `a` from `lhs` (`m x k`), `b` row-major `k x n` and
/// `c` row-major `m x n`, in the order described in the module docs.
/// Rows of `c` are split across `threads` threads when the product is
/// large enough. Panics on mismatched lengths.
pub fn gemm(lhs: Lhs<'_>, b: &[f32], n: usize, c: &mut [f32], threads: usize) {
    gemm_on(Path::best(), lhs, b, n, c, threads);
}

/// [`gemm`] with `b` given as its transpose: `bt` is `n x k`, row-major
/// (a weight stored `(out, in)` for `c = a W^T`). The bits are [`gemm`]'s
/// on `b = bt^T`. The AVX2 path reads `bt` in place; the other paths
/// transpose it first.
pub fn gemm_bt(lhs: Lhs<'_>, bt: &[f32], n: usize, c: &mut [f32], threads: usize) {
    gemm_bt_on(Path::best(), lhs, bt, n, c, threads);
}

pub(crate) fn gemm_bt_on(
    path: Path,
    lhs: Lhs<'_>,
    bt: &[f32],
    n: usize,
    c: &mut [f32],
    threads: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx2 {
        gemm_with(path, lhs, bt, true, n, c, threads);
        return;
    }
    let k = lhs.dims().1;
    assert_eq!(bt.len(), k * n, "bt is n x k");
    let mut b = vec![0f32; k * n];
    for (j, row) in bt.chunks_exact(k.max(1)).enumerate() {
        for (kk, &v) in row.iter().enumerate() {
            b[kk * n + j] = v;
        }
    }
    gemm_on(path, lhs, &b, n, c, threads);
}

pub(crate) fn gemm_on(
    path: Path,
    lhs: Lhs<'_>,
    b: &[f32],
    n: usize,
    c: &mut [f32],
    threads: usize,
) {
    gemm_with(path, lhs, b, false, n, c, threads);
}

fn gemm_with(
    path: Path,
    lhs: Lhs<'_>,
    b: &[f32],
    b_transposed: bool,
    n: usize,
    c: &mut [f32],
    threads: usize,
) {
    let (m, k) = lhs.dims();
    assert_eq!(b.len(), k * n, "b is k x n");
    assert_eq!(c.len(), m * n, "c is m x n");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let (source, transposed) = match lhs {
        Lhs::Rows(r) => (r.all(), false),
        Lhs::Transposed(r) => (r.all(), true),
    };
    let threads = if m * n * k >= PARALLEL_MIN_FMAS {
        threads.clamp(1, m.div_ceil(8).max(n.div_ceil(32)))
    } else {
        1
    };
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx2 {
        let operands = packed_avx2::Operands {
            source: &source,
            transposed,
            m,
            k,
            b,
            b_transposed,
            n,
        };
        packed_avx2::gemm(&operands, c, threads);
        return;
    }
    assert!(!b_transposed, "only the AVX2 path reads b transposed");
    // Chunks of whole 8-row tiles, one per thread.
    let chunk = m.div_ceil(threads).div_ceil(8) * 8;
    let run = |row0: usize, c: &mut [f32]| {
        let block = Block {
            source: &source,
            transposed,
            row0,
            rows: c.len() / n,
            b,
            n,
            k,
            c,
        };
        run_block(path, block);
    };
    if threads == 1 {
        run(0, c);
        return;
    }
    rayon::scope(|s| {
        for (t, part) in c.chunks_mut(chunk * n).enumerate() {
            let run = &run;
            s.spawn(move |_| run(t * chunk, part));
        }
    });
}

fn run_block(path: Path, block: Block<'_, '_>) {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => x86::avx512(block),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unreachable!("the AVX2 path runs in packed_avx2"),
        Path::Portable => portable::block(block),
    }
}

#[cfg(test)]
mod tests;
