//! The AVX-512F path: register tiles of `c` updated in place (the AVX2
//! path, with packed operands, is `packed_avx2`).
//!
//! A tile is `MR` rows by `NR` columns of `c`, held in vector registers for
//! one block of `DEPTH_BLOCK` values of `k`: loaded from `c`, updated with
//! one fused multiply-add per value of `k` (a broadcast value of `a` times a
//! row of `b`), stored back. Tiles at the right edge mask the columns past
//! `n`; rows past a multiple of `MR` go through one-row tiles.
//!
//! Unsafe code (as in `packed_avx2` and `vector_avx2`): intrinsics that
//! read and write through pointers. Every pointer is derived from a slice
//! whose length is checked in [`drive`] before any tile runs; masked-off
//! lanes are never accessed (AVX-512 masked loads and stores suppress them),
//! and pointers that may point past a slice for such lanes are formed with
//! `wrapping_add`, never dereferenced.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{Block, DEPTH_BLOCK, WIDTH_BLOCK};

/// A register tile kernel.
trait Tile {
    /// Rows per full tile.
    const MR: usize;
    /// Columns per tile.
    const NR: usize;
    /// Whether this CPU runs the kernel.
    fn supported() -> bool;
    /// Updates a `ROWS x NR` tile of `c` at `c` (row stride `n`) over `kc`
    /// values of `k`: `a(i, kk)` is the address of `a[i][k0 + kk]`, `b` the
    /// address of `b[k0][j0]` (row stride `n`), `cols` (1..=NR) the columns
    /// of the tile inside `c`.
    ///
    /// # Safety
    /// [`Tile::supported`] is true; `a(i, kk)` is readable for `i < ROWS`,
    /// `kk < kc`; `b + kk * n + j` is readable and `c + i * n + j` readable
    /// and writable for `i < ROWS`, `kk < kc`, `j < cols`.
    unsafe fn tile<const ROWS: usize>(
        a: impl Fn(usize, usize) -> *const f32,
        kc: usize,
        b: *const f32,
        n: usize,
        c: *mut f32,
        cols: usize,
    );
}

/// AVX-512F: 8 x 32 tiles, 16 accumulators of the 32 vector registers.
struct Avx512;

impl Tile for Avx512 {
    const MR: usize = 8;
    const NR: usize = 32;

    fn supported() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    unsafe fn tile<const ROWS: usize>(
        a: impl Fn(usize, usize) -> *const f32,
        kc: usize,
        b: *const f32,
        n: usize,
        c: *mut f32,
        cols: usize,
    ) {
        // SAFETY: forwarded from the caller (see `Tile::tile`).
        unsafe { tile_avx512::<ROWS>(a, kc, b, n, c, cols) }
    }
}

fn mask16(cols: usize) -> __mmask16 {
    if cols >= 16 {
        0xFFFF
    } else {
        ((1u32 << cols) - 1) as __mmask16
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const ROWS: usize>(
    a: impl Fn(usize, usize) -> *const f32,
    kc: usize,
    b: *const f32,
    n: usize,
    c: *mut f32,
    cols: usize,
) {
    let masks = [mask16(cols), mask16(cols.saturating_sub(16))];
    let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
    // SAFETY (all blocks below): lanes in the masks are in bounds (the
    // caller's contract); masked-off lanes are not accessed.
    for (i, row) in acc.iter_mut().enumerate() {
        for (v, reg) in row.iter_mut().enumerate() {
            *reg = unsafe { _mm512_maskz_loadu_ps(masks[v], c.wrapping_add(i * n + 16 * v)) };
        }
    }
    for kk in 0..kc {
        let b_row = b.wrapping_add(kk * n);
        let b0 = unsafe { _mm512_maskz_loadu_ps(masks[0], b_row) };
        let b1 = unsafe { _mm512_maskz_loadu_ps(masks[1], b_row.wrapping_add(16)) };
        for (i, row) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_ps(unsafe { *a(i, kk) });
            row[0] = _mm512_fmadd_ps(x, b0, row[0]);
            row[1] = _mm512_fmadd_ps(x, b1, row[1]);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, reg) in row.iter().enumerate() {
            unsafe { _mm512_mask_storeu_ps(c.wrapping_add(i * n + 16 * v), masks[v], *reg) };
        }
    }
}

pub(super) fn avx512(block: Block<'_, '_>) {
    drive::<Avx512, 8>(block);
}

/// Runs `block` in tiles of `T` (`MR` is `T::MR`, as a const parameter).
fn drive<T: Tile, const MR: usize>(block: Block<'_, '_>) {
    assert!(
        T::supported(),
        "this CPU lacks the instructions of the path"
    );
    assert_eq!(MR, T::MR);
    let Block {
        source,
        transposed,
        row0,
        rows,
        b,
        n,
        k,
        c,
    } = block;
    // The bounds every pointer below relies on.
    assert_eq!(b.len(), k * n);
    assert_eq!(c.len(), rows * n);
    if transposed {
        assert!(source.len() == k && source.iter().all(|r| r.len() >= row0 + rows));
    } else {
        assert!(
            source.len() >= row0 + rows && source[row0..row0 + rows].iter().all(|r| r.len() == k)
        );
    }
    // Panels of `WIDTH_BLOCK` columns, outermost: a panel's `kc x
    // WIDTH_BLOCK` block of `b` stays in the L2 cache while every row tile
    // passes over it. Each value of `c` still sees the blocks of `k` in
    // ascending order, so the panels change no bit.
    for p0 in (0..n).step_by(WIDTH_BLOCK) {
        let p1 = (p0 + WIDTH_BLOCK).min(n);
        for k0 in (0..k).step_by(DEPTH_BLOCK) {
            let kc = DEPTH_BLOCK.min(k - k0);
            for i0 in (0..rows).step_by(MR) {
                let tile_rows = MR.min(rows - i0);
                for j0 in (p0..p1).step_by(T::NR) {
                    let cols = T::NR.min(p1 - j0);
                    let bp = b[k0 * n + j0..].as_ptr();
                    let cp = c[i0 * n + j0..].as_mut_ptr();
                    // SAFETY: by the assertions above, `a(i, kk)` stays inside
                    // the source rows for the tile's rows and `kk < kc`, and
                    // `b`/`c` cover `kc` rows and `tile_rows` rows of `n`
                    // values from `bp`/`cp`, of which the tile touches `cols`.
                    unsafe {
                        if transposed {
                            let at =
                                |i: usize, kk: usize| source[k0 + kk].as_ptr().add(row0 + i0 + i);
                            if tile_rows == MR {
                                T::tile::<MR>(at, kc, bp, n, cp, cols);
                            } else {
                                for r in 0..tile_rows {
                                    let at = |_: usize, kk: usize| at(r, kk);
                                    T::tile::<1>(at, kc, bp, n, cp.add(r * n), cols);
                                }
                            }
                        } else {
                            let start = |i: usize| source[row0 + i0 + i].as_ptr().add(k0);
                            if tile_rows == MR {
                                let ptrs: [*const f32; MR] = std::array::from_fn(start);
                                T::tile::<MR>(|i, kk| ptrs[i].add(kk), kc, bp, n, cp, cols);
                            } else {
                                for r in 0..tile_rows {
                                    let p = start(r);
                                    T::tile::<1>(|_, kk| p.add(kk), kc, bp, n, cp.add(r * n), cols);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
