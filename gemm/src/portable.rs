//! The portable path: plain loops over `f32::mul_add`, one value of `k` at
//! a time for every value of a row of `c`, so each value of `c` sees the
//! same chain of fused multiply-adds as on the SIMD paths.

use super::Block;

pub(super) fn block(block: Block<'_, '_>) {
    let n = block.n;
    for i in 0..block.rows {
        for kk in 0..block.k {
            let a = block.a(i, kk);
            let b_row = &block.b[kk * n..(kk + 1) * n];
            let c_row = &mut block.c[i * n..(i + 1) * n];
            for (c, &b) in c_row.iter_mut().zip(b_row) {
                *c = a.mul_add(b, *c);
            }
        }
    }
}
