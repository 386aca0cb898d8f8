//! AVX2+FMA versions of `vector`'s kernels (same bits: one `vfmadd` per
//! value where the portable path calls `f32::mul_add`).
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::vector::LANES;

/// [`super::vector::dot_lanes`]; the caller checked the CPU and the lengths.
pub(crate) fn dot_lanes(a: &[f32], b: &[f32]) -> [f32; LANES] {
    // SAFETY: the caller checked that the CPU has AVX2 and FMA.
    unsafe { dot_lanes_fma(a, b) }
}

/// [`super::vector::axpy`]; the caller checked the CPU and the lengths.
pub(crate) fn axpy(p: f32, v: &[f32], out: &mut [f32]) {
    // SAFETY: the caller checked that the CPU has AVX2 and FMA.
    unsafe { axpy_fma(p, v, out) }
}

#[target_feature(enable = "avx2,fma")]
fn dot_lanes_fma(a: &[f32], b: &[f32]) -> [f32; LANES] {
    let len = a.len().min(b.len());
    let whole = len / LANES * LANES;
    let mut acc = _mm256_setzero_ps();
    for i in (0..whole).step_by(LANES) {
        // SAFETY: `i + LANES <= whole <= len` values of each slice.
        let (x, y) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
            )
        };
        acc = _mm256_fmadd_ps(x, y, acc);
    }
    let mut lanes = [0f32; LANES];
    // SAFETY: `lanes` holds `LANES` values.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    for (l, i) in (whole..len).enumerate() {
        lanes[l] = a[i].mul_add(b[i], lanes[l]);
    }
    lanes
}

#[target_feature(enable = "avx2,fma")]
fn axpy_fma(p: f32, v: &[f32], out: &mut [f32]) {
    let len = v.len().min(out.len());
    let whole = len / LANES * LANES;
    let pv = _mm256_set1_ps(p);
    for i in (0..whole).step_by(LANES) {
        // SAFETY: `i + LANES <= whole <= len` values of each slice.
        unsafe {
            let o = out.as_mut_ptr().add(i);
            let x = _mm256_loadu_ps(v.as_ptr().add(i));
            _mm256_storeu_ps(o, _mm256_fmadd_ps(pv, x, _mm256_loadu_ps(o)));
        }
    }
    for i in whole..len {
        out[i] = p.mul_add(v[i], out[i]);
    }
}
