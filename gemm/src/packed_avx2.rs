//! The AVX2+FMA path: packed operands and a 6 x 16 register kernel, in the
//! loop order of BLIS (Van Zee and van de Geijn, "BLIS: A Framework for
//! Rapidly Instantiating BLAS Functionality", 2015).
//!
//! Blocks, outermost first: `NC` columns of `b` and `c`; `DEPTH_BLOCK`
//! values of `k`, whose `kc x NC` block of `b` is copied into micro-panels
//! of `NR` columns, each contiguous (`kc * NR` values, in the L1 cache while
//! it is used); `MC` rows of `a`, copied into micro-panels of `MR` rows
//! (`kc * MR` values, `[kk][i]`; the block stays in the L2 cache); then every
//! `MR x NR` tile of `c` in the block, micro-panel of `b` outer. Copies pad
//! short panels with zeros, and a tile at the bottom or right edge of `c`
//! runs on a copy of its values, so the kernel has no edge case and no masked
//! load.
//!
//! Threads split `c` into rectangles: whole columns when `c` is wide (each
//! thread then packs only its own columns of `b`, which is most of the
//! copying), whole rows otherwise.
//!
//! The packing changes where values are read from, never the order in which
//! they are summed: a tile's accumulators are loaded from `c` at the start of
//! each block of `k`, take one fused multiply-add per value of `k` in
//! ascending order, and are stored back, and the blocks of `k` of a value of
//! `c` run in ascending order. So the bits are the crate contract's, the same
//! as the portable path's (`tests.rs` checks it). The AVX2 kernel before this
//! one (the same 6 x 16 tile, operands read in place through masked loads)
//! ran at 25-30% of this machine's FMA peak, this one at about 70%
//! (`cargo run -p w2s-gemm --example rate`; figures in `docs/PERFORMANCE.md`).
//!
//! Unsafe code: the kernel's loads and stores through pointers, and the
//! threads' shared pointer to `c`. Every pointer is checked against its
//! slice's length before use, as the comments at each block say.
#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ops::Range;

use super::DEPTH_BLOCK;

/// Rows per register tile.
const MR: usize = 6;
/// Columns per register tile (two 8-lane vectors).
const NR: usize = 16;
/// Rows per packed block of `a` (a multiple of `MR`): `MC x DEPTH_BLOCK`
/// values of `a` (144 KiB) stay in a core's L2 cache.
const MC: usize = 144;
/// Columns per packed block of `b` (a multiple of `NR`): `DEPTH_BLOCK x NC`
/// values of `b` (2 MiB) stay in the L3 cache.
const NC: usize = 2048;
/// Values per cache line: packed buffers start on a line.
const LINE: usize = 16;

/// The operands of a product, as the crate's entry point resolved them.
pub(super) struct Operands<'a> {
    /// Rows of `a` (`transposed == false`, `m` rows of `k` values) or of
    /// its transpose (`k` rows of at least `m` values).
    pub(super) source: &'a [&'a [f32]],
    /// Whether `source` holds `a`'s transpose.
    pub(super) transposed: bool,
    /// Rows of `a` and `c`.
    pub(super) m: usize,
    /// Depth of the product.
    pub(super) k: usize,
    /// `b`, `k x n`, row-major, or (`b_transposed`) its transpose, `n x k`
    /// row-major.
    pub(super) b: &'a [f32],
    /// Whether `b` holds `b`'s transpose (the packing reads either).
    pub(super) b_transposed: bool,
    /// Columns of `b` and `c`.
    pub(super) n: usize,
}

/// `c` (`m x n`, row-major), shared by the threads, each of which writes
/// only the values of its own rectangle.
#[derive(Clone, Copy)]
struct SharedC(*mut f32);

// SAFETY: the threads that share the pointer write disjoint rectangles of
// `c` (see `gemm`), and `c` outlives them (`rayon::scope`).
unsafe impl Send for SharedC {}
// SAFETY: as above.
unsafe impl Sync for SharedC {}

/// `c += a * b` on `threads` threads (the caller decided the count).
/// Panics if the CPU lacks AVX2 or FMA or an operand's length is wrong.
pub(super) fn gemm(op: &Operands<'_>, c: &mut [f32], threads: usize) {
    assert!(
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
        "this CPU lacks the instructions of the path"
    );
    let Operands {
        source,
        transposed,
        m,
        k,
        b,
        n,
        b_transposed: _,
    } = *op;
    // The bounds the packing and every pointer below rely on.
    assert_eq!(b.len(), k * n);
    assert_eq!(c.len(), m * n);
    if transposed {
        assert!(source.len() == k && source.iter().all(|r| r.len() >= m));
    } else {
        assert!(source.len() == m && source.iter().all(|r| r.len() == k));
    }
    let rects = rectangles(m, n, threads.max(1));
    let shared = SharedC(c.as_mut_ptr());
    if rects.len() == 1 {
        rectangle(op, 0..m, 0..n, shared);
        return;
    }
    // The calling thread computes the first rectangle itself: it would
    // otherwise sleep while a pool thread wakes up for it.
    let mut rects = rects.into_iter();
    let (rows0, cols0) = rects.next().expect("at least one rectangle");
    rayon::scope(|s| {
        for (rows, cols) in rects {
            s.spawn(move |_| rectangle(op, rows, cols, shared));
        }
        rectangle(op, rows0, cols0, shared);
    });
}

/// One rectangle of `c` per thread: column ranges (multiples of `NR`) when
/// `c` has at least two tiles of columns per thread, else row ranges.
fn rectangles(m: usize, n: usize, threads: usize) -> Vec<(Range<usize>, Range<usize>)> {
    if threads == 1 {
        return vec![(0..m, 0..n)];
    }
    if n.div_ceil(NR) >= 2 * threads {
        let chunk = n.div_ceil(threads).div_ceil(NR) * NR;
        (0..n)
            .step_by(chunk)
            .map(|j| (0..m, j..(j + chunk).min(n)))
            .collect()
    } else {
        let chunk = m.div_ceil(threads).div_ceil(MR) * MR;
        (0..m)
            .step_by(chunk)
            .map(|i| (i..(i + chunk).min(m), 0..n))
            .collect()
    }
}

/// A thread's packed blocks, kept between products (the buffers are large
/// enough that allocating and faulting them in on every product shows up).
struct Packs {
    a: Vec<f32>,
    b: Vec<f32>,
}

thread_local! {
    static PACKS: RefCell<Packs> = const { RefCell::new(Packs { a: Vec::new(), b: Vec::new() }) };
}

/// A buffer of at least `len` values starting on a cache line.
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len + LINE {
        buf.resize(len + LINE, 0.0);
    }
    let skip = buf.as_ptr().align_offset(LINE * 4).min(LINE);
    &mut buf[skip..skip + len]
}

/// Computes rows `rows` and columns `cols` of `c`.
fn rectangle(op: &Operands<'_>, rows: Range<usize>, cols: Range<usize>, c: SharedC) {
    PACKS.with(|packs| match packs.try_borrow_mut() {
        Ok(mut packs) => rectangle_with(op, rows, cols, c, &mut packs),
        // Only if a product ever ran inside another on one thread.
        Err(_) => rectangle_with(
            op,
            rows,
            cols,
            c,
            &mut Packs {
                a: Vec::new(),
                b: Vec::new(),
            },
        ),
    });
}

fn rectangle_with(
    op: &Operands<'_>,
    rows: Range<usize>,
    cols: Range<usize>,
    c: SharedC,
    packs: &mut Packs,
) {
    for jc in cols.clone().step_by(NC) {
        let nc = NC.min(cols.end - jc);
        let panels = nc.div_ceil(NR);
        for pc in (0..op.k).step_by(DEPTH_BLOCK) {
            let kc = DEPTH_BLOCK.min(op.k - pc);
            let pb = aligned(&mut packs.b, panels * kc * NR);
            pack_b(op, pc, kc, jc, nc, pb);
            for ic in rows.clone().step_by(MC) {
                let mc = MC.min(rows.end - ic);
                let tiles = mc.div_ceil(MR);
                let pa = aligned(&mut packs.a, tiles * kc * MR);
                pack_a(op, ic, mc, pc, kc, pa);
                for (p, panel) in pb.chunks_exact(kc * NR).enumerate() {
                    let j = jc + p * NR;
                    let width = NR.min(jc + nc - j);
                    for (t, tile) in pa.chunks_exact(kc * MR).enumerate() {
                        let i = ic + t * MR;
                        let height = MR.min(ic + mc - i);
                        update_tile(op.n, c, i, height, j, width, kc, tile, panel);
                    }
                }
            }
        }
    }
}

/// Copies `b[pc..pc + kc][jc..jc + nc]` into `dst` as micro-panels of `NR`
/// columns, `[panel][kk][NR]`, padding the last panel with zeros. A `b`
/// given as its transpose costs the same: the packing is the only place
/// that reads `b`.
fn pack_b(op: &Operands<'_>, pc: usize, kc: usize, jc: usize, nc: usize, dst: &mut [f32]) {
    let n = op.n;
    for (p, panel) in dst.chunks_exact_mut(kc * NR).enumerate() {
        let j = jc + p * NR;
        let width = NR.min(jc + nc - j);
        if op.b_transposed {
            // Column `j + col` of `b` is row `j + col` of its transpose.
            let k = op.k;
            for col in 0..NR {
                if col < width {
                    let src = &op.b[(j + col) * k + pc..][..kc];
                    for (kk, &v) in src.iter().enumerate() {
                        panel[kk * NR + col] = v;
                    }
                } else {
                    panel
                        .iter_mut()
                        .skip(col)
                        .step_by(NR)
                        .for_each(|v| *v = 0.0);
                }
            }
            continue;
        }
        for (kk, out) in panel.chunks_exact_mut(NR).enumerate() {
            let row = (pc + kk) * n + j;
            if width == NR {
                // A copy of a known size: two vector moves, where a slice
                // copy of a run-time length is a call to `memmove` (8% of
                // a Qwen2.5-0.5B extraction's samples).
                let out: &mut [f32; NR] = out.try_into().expect("NR values");
                *out = op.b[row..row + NR].try_into().expect("NR values");
            } else {
                out[..width].copy_from_slice(&op.b[row..row + width]);
                out[width..].fill(0.0);
            }
        }
    }
}

/// Copies `a[ic..ic + mc][pc..pc + kc]` into `dst` as micro-panels of `MR`
/// rows, `[tile][kk][MR]`, padding the last tile with zeros.
fn pack_a(op: &Operands<'_>, ic: usize, mc: usize, pc: usize, kc: usize, dst: &mut [f32]) {
    for (t, tile) in dst.chunks_exact_mut(kc * MR).enumerate() {
        let i = ic + t * MR;
        let height = MR.min(ic + mc - i);
        if op.transposed {
            for (kk, out) in tile.chunks_exact_mut(MR).enumerate() {
                out[..height].copy_from_slice(&op.source[pc + kk][i..i + height]);
                out[height..].fill(0.0);
            }
        } else {
            for r in 0..MR {
                if r < height {
                    let row = &op.source[i + r][pc..pc + kc];
                    for (kk, &v) in row.iter().enumerate() {
                        tile[kk * MR + r] = v;
                    }
                } else {
                    tile.iter_mut().skip(r).step_by(MR).for_each(|v| *v = 0.0);
                }
            }
        }
    }
}

/// Runs the kernel on the tile of `c` at row `i`, column `j` (`height` rows
/// and `width` columns of it inside `c`), through a copy when it is partial.
#[allow(clippy::too_many_arguments)]
fn update_tile(
    n: usize,
    c: SharedC,
    i: usize,
    height: usize,
    j: usize,
    width: usize,
    kc: usize,
    a: &[f32],
    b: &[f32],
) {
    assert!(a.len() == kc * MR && b.len() == kc * NR);
    if height == MR && width == NR {
        // SAFETY: `a` and `b` hold `kc` rows of `MR` and `NR` values; the
        // tile's `MR` rows of `NR` values from `(i, j)` lie inside `c`
        // (`m x n`, checked in `gemm`) and inside this thread's rectangle,
        // which no other thread writes.
        unsafe { kernel(kc, a.as_ptr(), b.as_ptr(), c.0.add(i * n + j), n) };
        return;
    }
    let mut copy = [0f32; MR * NR];
    for r in 0..height {
        // SAFETY: row `i + r` < m and columns `j..j + width` <= n lie inside
        // `c` and this thread's rectangle.
        let row = unsafe { std::slice::from_raw_parts_mut(c.0.add((i + r) * n + j), width) };
        copy[r * NR..r * NR + width].copy_from_slice(row);
    }
    // SAFETY: `copy` holds `MR` rows of `NR` values; `a` and `b` as above.
    unsafe { kernel(kc, a.as_ptr(), b.as_ptr(), copy.as_mut_ptr(), NR) };
    for r in 0..height {
        // SAFETY: as for the copy in.
        let row = unsafe { std::slice::from_raw_parts_mut(c.0.add((i + r) * n + j), width) };
        row.copy_from_slice(&copy[r * NR..r * NR + width]);
    }
}

/// `c[i][j] = fma(a[kk][i], b[kk][j], c[i][j])` for `kk = 0..kc` in order,
/// over a `MR x NR` tile: `a` is `[kk][MR]`, `b` is `[kk][NR]`, `c` has row
/// stride `ldc`.
///
/// # Safety
/// AVX2 and FMA are present; `a` is readable for `kc * MR` values, `b` for
/// `kc * NR`, and `c + r * ldc + j` readable and writable for `r < MR`,
/// `j < NR`.
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    // SAFETY (every block below): within the bounds of the contract above.
    for (r, row) in acc.iter_mut().enumerate() {
        row[0] = unsafe { _mm256_loadu_ps(c.add(r * ldc)) };
        row[1] = unsafe { _mm256_loadu_ps(c.add(r * ldc + 8)) };
    }
    for kk in 0..kc {
        let b0 = unsafe { _mm256_loadu_ps(b.add(kk * NR)) };
        let b1 = unsafe { _mm256_loadu_ps(b.add(kk * NR + 8)) };
        for (r, row) in acc.iter_mut().enumerate() {
            let x = _mm256_set1_ps(unsafe { *a.add(kk * MR + r) });
            row[0] = _mm256_fmadd_ps(x, b0, row[0]);
            row[1] = _mm256_fmadd_ps(x, b1, row[1]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        unsafe { _mm256_storeu_ps(c.add(r * ldc), row[0]) };
        unsafe { _mm256_storeu_ps(c.add(r * ldc + 8), row[1]) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of `c` lies in exactly one rectangle.
    fn covers_once(m: usize, n: usize, rects: &[(Range<usize>, Range<usize>)]) {
        let mut seen = vec![0u8; m * n];
        for (rows, cols) in rects {
            for i in rows.clone() {
                for j in cols.clone() {
                    seen[i * n + j] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "{m}x{n}: {rects:?}");
    }

    #[test]
    fn wide_products_split_by_columns_and_narrow_ones_by_rows() {
        let wide = rectangles(232, 9728, 2);
        assert_eq!(wide, vec![(0..232, 0..4864), (0..232, 4864..9728)]);
        covers_once(232, 9728, &wide);
        let narrow = rectangles(512, 20, 2);
        assert_eq!(narrow, vec![(0..258, 0..20), (258..512, 0..20)]);
        covers_once(512, 20, &narrow);
        for (m, n, t) in [(7, 100, 3), (100, 7, 3), (1, 1, 1), (13, 1000, 4)] {
            covers_once(m, n, &rectangles(m, n, t));
        }
    }
}
