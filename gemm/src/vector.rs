//! The vector kernels of attention and normalization, with the same
//! contract as the products: every output value is one fixed sequence of
//! fused multiply-adds, so the SIMD and portable paths give the same bits.
//!
//! They exist because `f32::mul_add` in a crate compiled for baseline x86-64
//! (no `fma` target feature) becomes a call into libm's `fmaf` per value:
//! in the frozen forward's attention those calls were 22% of a SmolLM2
//! extraction's samples (`perf record`, before this module).

/// Lanes of [`dot_lanes`].
pub const LANES: usize = 8;

/// The [`LANES`] interleaved partial sums of `sum(a[i] * b[i])`: lane `l`
/// is the chain `fma(a[i], b[i], lane)` over `i = l, l + 8, l + 16, ...`
/// in ascending order, starting from zero. Callers add the lanes in a fixed
/// order. Panics if the lengths differ.
pub fn dot_lanes(a: &[f32], b: &[f32]) -> [f32; LANES] {
    assert_eq!(a.len(), b.len(), "dot of slices of different lengths");
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        return crate::vector_avx2::dot_lanes(a, b);
    }
    portable_dot_lanes(a, b)
}

/// `out[i] = fma(p, v[i], out[i])` for every `i`. Panics if the lengths
/// differ.
pub fn axpy(p: f32, v: &[f32], out: &mut [f32]) {
    assert_eq!(v.len(), out.len(), "axpy of slices of different lengths");
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        crate::vector_avx2::axpy(p, v, out);
        return;
    }
    portable_axpy(p, v, out);
}

/// Whether the CPU runs the AVX2+FMA kernels (read once).
#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

pub(crate) fn portable_dot_lanes(a: &[f32], b: &[f32]) -> [f32; LANES] {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] = x.mul_add(*y, acc[l]);
    }
    acc
}

pub(crate) fn portable_axpy(p: f32, v: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = p.mul_add(x, *o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values whose products round, so a different order or a separate
    /// rounding of the product would change bits.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i.wrapping_mul(2_654_435_761) ^ seed).wrapping_mul(40_503);
                (h >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn the_simd_kernels_give_the_portable_bits_at_every_length() {
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 100, 576] {
            let (a, b) = (values(len, 1), values(len, 2));
            let want = portable_dot_lanes(&a, &b).map(f32::to_bits);
            assert_eq!(dot_lanes(&a, &b).map(f32::to_bits), want, "dot, len {len}");
            let mut got = values(len, 3);
            let mut expected = got.clone();
            axpy(0.3711, &a, &mut got);
            portable_axpy(0.3711, &a, &mut expected);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "axpy, len {len}");
        }
    }

    #[test]
    fn dot_lanes_interleave_by_index() {
        let a: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        let lanes = dot_lanes(&a, &[1.0; 10]);
        assert_eq!(lanes, [1.0 + 9.0, 2.0 + 10.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    }
}
