//! The frozen forward's element-wise and attention kernels, on plain
//! row-major `f32` buffers.
//!
//! Each kernel computes every output value with one fixed sequence of
//! operations that depends only on the shapes (reductions run in eight
//! interleaved lanes, then the lanes in order), never on a thread count, so
//! the forward's bits are the same on any machine with the same GEMM path.
//! They run on one thread: at the sequence lengths of feature extraction
//! (tens to hundreds of tokens), the projections' GEMMs are over 95% of the
//! work.

/// `sum(a[i] * b[i])` in eight interleaved partial sums
/// ([`w2s_gemm::dot_lanes`], fused multiply-adds on every CPU path), added
/// in lane order at the end (the order is fixed by the length alone).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    w2s_gemm::dot_lanes(a, b).iter().sum()
}

/// RMSNorm of each `dim`-wide row of `x` into `out`:
/// `w * x / sqrt(mean(x^2) + eps)` (Hugging Face's `LlamaRMSNorm`, f32).
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let inv = 1.0 / (dot(row, row) / dim as f32 + eps).sqrt();
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = w * (v * inv);
        }
    }
}

/// [`rms_norm`] in place.
pub(crate) fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    let dim = weight.len();
    for row in x.chunks_exact_mut(dim) {
        let inv = 1.0 / (dot(row, row) / dim as f32 + eps).sqrt();
        for (v, &w) in row.iter_mut().zip(weight) {
            *v = w * (*v * inv);
        }
    }
}

/// Rotates one head `x` (`head_dim` values) at a position whose tables are
/// `cos`/`sin` (`head_dim / 2` values each): Hugging Face's
/// `x * cos + rotate_half(x) * sin`.
#[inline]
pub(crate) fn rope(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    let (x1, x2) = x.split_at_mut(half);
    for i in 0..half {
        let (a, b) = (x1[i], x2[i]);
        x1[i] = a * cos[i] - b * sin[i];
        x2[i] = b * cos[i] + a * sin[i];
    }
}

/// `silu(gate) * up` for each row of `gate_up` (the gate's `width` values,
/// then the up projection's `width`), into the rows of `out`.
pub(crate) fn swiglu(gate_up: &[f32], width: usize, out: &mut [f32]) {
    for (row, out) in gate_up
        .chunks_exact(2 * width)
        .zip(out.chunks_exact_mut(width))
    {
        let (gate, up) = row.split_at(width);
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + (-g).exp()) * u;
        }
    }
}

/// `x += y`, element-wise.
pub(crate) fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// The shape of one sequence's attention.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    /// Query heads.
    pub(crate) heads: usize,
    /// Key/value heads (each shared by `heads / kv_heads` query heads).
    pub(crate) kv_heads: usize,
    /// Values per head.
    pub(crate) head_dim: usize,
}

impl Heads {
    /// Width of a row of the fused q/k/v projection: the queries, then
    /// the keys, then the values.
    pub(crate) fn qkv_width(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }
}

/// Causal self-attention of one sequence of `len` tokens: `qkv` is its
/// fused projection (`len` rows of [`Heads::qkv_width`], queries and keys
/// already rotated), `out` receives a row of `heads * head_dim` per query.
/// Query `i` reads keys `0..=i` (a right-padded batch's padding is never
/// part of a sequence, so no padding mask is needed). Query head `h`
/// reads key/value head `h / (heads / kv_heads)` (`repeat_kv`'s order).
/// Only the queries in `queries` are computed; `out` has a row for each.
/// `scores` is scratch of at least `len` values.
pub(crate) fn attend(
    qkv: &[f32],
    len: usize,
    shape: Heads,
    queries: std::ops::Range<usize>,
    out: &mut [f32],
    scores: &mut [f32],
) {
    let Heads {
        heads,
        kv_heads,
        head_dim: d,
    } = shape;
    let width = shape.qkv_width();
    let n_rep = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let key = |j: usize, g: usize| &qkv[j * width + (heads + g) * d..][..d];
    let value = |j: usize, g: usize| &qkv[j * width + (heads + kv_heads + g) * d..][..d];
    debug_assert!(queries.end <= len);
    for (row, i) in queries.enumerate() {
        for h in 0..heads {
            let g = h / n_rep;
            let q = &qkv[i * width + h * d..][..d];
            let scores = &mut scores[..=i];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                *s = dot(q, key(j, g)) * scale;
                max = max.max(*s);
            }
            let mut sum = 0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let o = &mut out[(row * heads + h) * d..][..d];
            o.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                w2s_gemm::axpy(p / sum, value(j, g), o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn rope_at_angle_zero_is_the_identity_and_rotates_pairs() {
        let mut x = [1.0, 2.0, 3.0, 4.0];
        rope(&mut x, &[1.0, 1.0], &[0.0, 0.0]);
        assert_eq!(x, [1.0, 2.0, 3.0, 4.0]);
        // A quarter turn: (a, b) -> (-b, a) for the pairs (x[i], x[i + 2]).
        rope(&mut x, &[0.0, 0.0], &[1.0, 1.0]);
        assert_eq!(x, [-3.0, -4.0, 1.0, 2.0]);
    }

    #[test]
    fn attention_over_one_token_returns_its_value() {
        let shape = Heads {
            heads: 2,
            kv_heads: 1,
            head_dim: 2,
        };
        // q (2 heads), k (1 head), v (1 head).
        let qkv = [0.3, -0.1, 2.0, 0.5, 1.0, 1.0, 7.0, -3.0];
        let mut out = [0.0; 4];
        attend(&qkv, 1, shape, 0..1, &mut out, &mut [0.0; 1]);
        assert_eq!(out, [7.0, -3.0, 7.0, -3.0]);
    }

    #[test]
    fn swiglu_is_silu_of_the_gate_times_up() {
        let mut out = [0.0; 2];
        swiglu(&[0.0, 1.0, 5.0, 2.0], 2, &mut out);
        let silu1 = 1.0 / (1.0 + (-1f32).exp());
        assert_eq!(out, [0.0, silu1 * 2.0]);
    }
}
