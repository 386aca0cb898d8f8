//! The heads' forward and backward on the CPU, over plain f32 buffers.
//!
//! One pass per train step with no candle op: the batch's rows are read in
//! place from the feature matrix (the gather is fused into the first
//! product), every product goes through [`crate::gemm`] (a fixed summation
//! order, so the same bits at any thread count), and the small steps
//! (bias, ReLU, softmax, column sums) are loops in a fixed order. The
//! candle-op twin in `head.rs` is what other devices run; the tests hold
//! the two together.

use crate::arch::Arch;
use crate::gemm::{Lhs, Rows, gemm};

/// A training batch: its rows of features, soft targets (`rows x classes`)
/// and per-row weights.
pub(crate) struct Batch<'a> {
    pub(crate) x: Rows<'a>,
    pub(crate) targets: &'a [f32],
    pub(crate) weights: &'a [f32],
}

/// A head's shape and parameters (`[w0, b0, w1, b1, ...]`, row-major).
pub(crate) struct Params<'a> {
    pub(crate) arch: Arch,
    pub(crate) classes: usize,
    pub(crate) values: Vec<&'a [f32]>,
}

/// What the forward keeps for the backward.
pub(crate) struct Forward {
    /// The hidden layer after ReLU (MLP only), `rows x hidden`.
    pub(crate) hidden: Option<Vec<f32>>,
    /// Logits, `rows x classes`.
    pub(crate) logits: Vec<f32>,
}

/// `rows` copies of `bias`, the starting values of a dense layer's output.
fn bias_rows(bias: &[f32], rows: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * bias.len());
    for _ in 0..rows {
        out.extend_from_slice(bias);
    }
    out
}

/// Column sums of a row-major `rows x cols` buffer, rows in order.
fn column_sums(values: &[f32], cols: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; cols];
    for row in values.chunks_exact(cols) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    sums
}

/// The forward pass: `x (rows x in) -> [relu(x w0 + b0)] -> logits`.
pub(crate) fn forward(p: &Params<'_>, x: Rows<'_>, threads: usize) -> Forward {
    let rows = x.count();
    let c = p.classes;
    match p.arch {
        Arch::Linear => {
            let mut logits = bias_rows(p.values[1], rows);
            gemm(Lhs::Rows(x), p.values[0], c, &mut logits, threads);
            Forward {
                hidden: None,
                logits,
            }
        }
        Arch::Mlp { hidden } => {
            let h = hidden as usize;
            let mut act = bias_rows(p.values[1], rows);
            gemm(Lhs::Rows(x), p.values[0], h, &mut act, threads);
            for v in &mut act {
                *v = v.max(0.0);
            }
            let mut logits = bias_rows(p.values[3], rows);
            gemm(
                Lhs::Rows(Rows::dense(&act, h)),
                p.values[2],
                c,
                &mut logits,
                threads,
            );
            Forward {
                hidden: Some(act),
                logits,
            }
        }
    }
}

/// Softmax over each row of `logits`, in place; the log-probabilities are
/// returned. Stable: the row's maximum is subtracted first.
pub(crate) fn softmax_rows(logits: &mut [f32], classes: usize) -> Vec<f32> {
    let mut logp = vec![0.0f32; logits.len()];
    for (z, lp) in logits
        .chunks_exact_mut(classes)
        .zip(logp.chunks_exact_mut(classes))
    {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (v, l) in z.iter_mut().zip(lp.iter_mut()) {
            *l = *v - max;
            *v = l.exp();
            sum += *v;
        }
        let log_sum = sum.ln();
        for (v, l) in z.iter_mut().zip(lp.iter_mut()) {
            *l -= log_sum;
            *v /= sum;
        }
    }
    logp
}

/// Loss and gradients of weighted soft-label cross-entropy
/// `sum_i w_i * -sum_c t_ic log p_ic / sum_i w_i`, in parameter order. The
/// batch must already be validated (`head::validate_batch`).
pub(crate) fn loss_and_grads(
    p: &Params<'_>,
    batch: &Batch<'_>,
    threads: usize,
) -> (f32, Vec<Vec<f32>>) {
    let c = p.classes;
    let Forward { hidden, mut logits } = forward(p, batch.x, threads);
    let probs = &mut logits;
    let logp = softmax_rows(probs, c);
    let total: f64 = batch.weights.iter().map(|&w| f64::from(w)).sum();
    let scale = (1.0 / total) as f32;
    let mut weighted_ce = 0.0f64;
    // dL/dz_ic = w_i / W * (p_ic * sum_c t_ic - t_ic), over `probs`.
    let dz = probs;
    for (((z, lp), t), &w) in dz
        .chunks_exact_mut(c)
        .zip(logp.chunks_exact(c))
        .zip(batch.targets.chunks_exact(c))
        .zip(batch.weights)
    {
        let mut ce = 0.0f32;
        let mut mass = 0.0f32;
        for (&tj, &lj) in t.iter().zip(lp) {
            ce -= tj * lj;
            mass += tj;
        }
        weighted_ce += f64::from(ce) * f64::from(w);
        let coeff = w * scale;
        for (zj, &tj) in z.iter_mut().zip(t) {
            *zj = (*zj * mass - tj) * coeff;
        }
    }
    let loss = (weighted_ce / total) as f32;
    let dz = &*dz;
    let grads = match hidden {
        None => {
            let mut dw = vec![0.0f32; batch.x.cols() * c];
            gemm(Lhs::Transposed(batch.x), dz, c, &mut dw, threads);
            vec![dw, column_sums(dz, c)]
        }
        Some(act) => {
            let h = act.len() / batch.x.count().max(1);
            let (w1, in_dim) = (p.values[2], batch.x.cols());
            let mut dw1 = vec![0.0f32; h * c];
            gemm(
                Lhs::Transposed(Rows::dense(&act, h)),
                dz,
                c,
                &mut dw1,
                threads,
            );
            // dh = dz w1^T, then through the ReLU.
            let mut w1t = vec![0.0f32; c * h];
            for (j, row) in w1.chunks_exact(c).enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    w1t[k * h + j] = v;
                }
            }
            let mut dpre = vec![0.0f32; act.len()];
            gemm(Lhs::Rows(Rows::dense(dz, c)), &w1t, h, &mut dpre, threads);
            for (d, &a) in dpre.iter_mut().zip(&act) {
                if a <= 0.0 {
                    *d = 0.0;
                }
            }
            let mut dw0 = vec![0.0f32; in_dim * h];
            gemm(Lhs::Transposed(batch.x), &dpre, h, &mut dw0, threads);
            let db0 = column_sums(&dpre, h);
            vec![dw0, db0, dw1, column_sums(dz, c)]
        }
    };
    (loss, grads)
}
