//! The pure arithmetic of the confidence loss: the warm-up of alpha, the
//! class-balance-aware hardening of the student's predictions, and the
//! mixed targets. No host calls, so it is unit-tested natively.
//!
//! `w2s_train::logconf` (the native twin) has the same functions, operation
//! for operation; `tests/all/native_twin.rs` checks that both train the same
//! student bit for bit.

/// The weight of the self-label term at `step` (0-based) of
/// `total_steps`: `alpha_max * step / warmup_steps`, capped at `alpha_max`,
/// where `warmup_steps = round(warmup * total_steps)`; `alpha_max` from the
/// first step when `warmup_steps` is 0.
pub(crate) fn alpha_at(step: u64, total_steps: u64, alpha_max: f32, warmup: f32) -> f32 {
    let warmup_steps = (f64::from(warmup) * total_steps as f64).round() as u64;
    if warmup_steps == 0 || step >= warmup_steps {
        return alpha_max;
    }
    (f64::from(alpha_max) * step as f64 / warmup_steps as f64) as f32
}

/// The `q`-quantile of `values` (`q` in [0, 1]) with linear interpolation
/// between the closest ranks, as numpy's and torch's default. `values`
/// must be non-empty and free of NaN.
pub(crate) fn quantile(values: &[f32], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| f64::from(x)).collect();
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    // The rank-`lo` value by selection (linear time, no full sort); the
    // rank-`lo + 1` one is the smallest of the partition above it.
    let (_, &mut at_lo, above) = v.select_nth_unstable_by(lo, f64::total_cmp);
    let at_hi = if pos > lo as f64 {
        above.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        at_lo
    };
    at_lo + (at_hi - at_lo) * (pos - lo as f64)
}

/// The student's hardened predictions for one batch: `probs` is row-major
/// `(n, k)`, `weak` the weak hard labels of the same rows.
///
/// - Two classes (the paper's rule): `pi_1` is the fraction of weak labels
///   equal to 1 and `t = quantile(p_0, pi_1)`; a row is class 0 when
///   `p_0 >= t`, else class 1. The hardened labels then have (up to ties)
///   the weak labels' class balance.
/// - `k > 2` (our generalisation): for each class `c`, `pi_c` is its
///   fraction of weak labels and `t_c = quantile(p_c, 1 - pi_c)`; a row's
///   label is the first argmax of `p_c / t_c`. Dividing by the per-class
///   threshold makes a class win about as often as the weak labels give it,
///   and for `k = 2` it picks the same side of the threshold in most rows.
pub(crate) fn harden(probs: &[f32], weak: &[usize], k: usize) -> Vec<usize> {
    let n = weak.len();
    let mut counts = vec![0usize; k];
    for &w in weak {
        counts[w] += 1;
    }
    let prior: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let column = |c: usize| -> Vec<f32> { probs.chunks_exact(k).map(|row| row[c]).collect() };
    if k == 2 {
        let p0 = column(0);
        let t = quantile(&p0, prior[1]);
        return p0.iter().map(|&p| usize::from(f64::from(p) < t)).collect();
    }
    let thresholds: Vec<f64> = (0..k)
        .map(|c| quantile(&column(c), 1.0 - prior[c]).max(f64::MIN_POSITIVE))
        .collect();
    probs
        .chunks_exact(k)
        .map(|row| {
            let mut best = 0;
            let mut best_score = f64::NEG_INFINITY;
            for (c, &p) in row.iter().enumerate() {
                let score = f64::from(p) / thresholds[c];
                if score > best_score {
                    best = c;
                    best_score = score;
                }
            }
            best
        })
        .collect()
}

/// Row-major targets `(1 - alpha) * onehot(weak) + alpha * onehot(hard)`.
pub(crate) fn mixed_targets(weak: &[usize], hard: &[usize], k: usize, alpha: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; weak.len() * k];
    for (row, (&w, &h)) in out.chunks_exact_mut(k).zip(weak.iter().zip(hard)) {
        for (c, t) in row.iter_mut().enumerate() {
            let from_weak = if c == w { 1.0 } else { 0.0 };
            let from_self = if c == h { 1.0 } else { 0.0 };
            *t = (1.0 - alpha) * from_weak + alpha * from_self;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_warms_up_linearly_then_stays() {
        // 100 steps, warm-up 20%: 20 steps from 0 to 0.75.
        assert_eq!(alpha_at(0, 100, 0.75, 0.2), 0.0);
        assert_eq!(alpha_at(10, 100, 0.75, 0.2), 0.375);
        assert_eq!(alpha_at(20, 100, 0.75, 0.2), 0.75);
        assert_eq!(alpha_at(99, 100, 0.75, 0.2), 0.75);
        assert_eq!(alpha_at(0, 100, 0.5, 0.0), 0.5);
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], 0.5) == 2.5; q=1/3 -> 2.0.
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5), 2.5);
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 1.0 / 3.0), 2.0);
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.0), 1.0);
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 1.0), 4.0);
    }

    #[test]
    fn binary_hardening_follows_the_weak_prior() {
        // p_0 of four rows; half the weak labels are 1, so the threshold is
        // the median of p_0 (0.5 between 0.4 and 0.6): rows with p_0 >=
        // 0.5 are class 0, even though every row has p_0 > 0.3.
        let probs = [0.9, 0.1, 0.6, 0.4, 0.4, 0.6, 0.35, 0.65];
        assert_eq!(harden(&probs, &[0, 0, 1, 1], 2), vec![0, 0, 1, 1]);
        // All weak labels 0: pi_1 = 0, threshold = min p_0, all class 0.
        assert_eq!(harden(&probs, &[0, 0, 0, 0], 2), vec![0, 0, 0, 0]);
    }

    #[test]
    fn multiclass_hardening_rescales_by_class_thresholds() {
        // Class 2 is never the argmax of the raw probabilities, but the weak
        // labels give it one row in three: its threshold is low, and the
        // row where it is relatively strongest becomes class 2.
        let probs = [
            0.6, 0.3, 0.1, //
            0.3, 0.6, 0.1, //
            0.45, 0.25, 0.3,
        ];
        assert_eq!(harden(&probs, &[0, 1, 2], 3), vec![0, 1, 2]);
    }

    #[test]
    fn targets_mix_weak_and_self_labels() {
        let t = mixed_targets(&[0, 1], &[1, 1], 2, 0.25);
        assert_eq!(t, vec![0.75, 0.25, 0.0, 1.0]);
    }
}
