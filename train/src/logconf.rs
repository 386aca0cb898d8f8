//! The native twin of `plugins/logconf`: weak-to-strong training with the
//! auxiliary confidence loss of Burns et al. 2023 (arXiv:2312.09390,
//! section 4.3.2), without the sandbox.
//!
//! [`LogConf::train`] is the plugin step for step: the reference recipe's
//! initialisation, optimizer and shuffles, and at each step one prediction
//! of the batch (detached), the hardened labels ([`harden`]), the mixed
//! targets ([`mixed_targets`]) at the warmed-up weight ([`alpha_at`]) and
//! one fused train step. The pure functions below are the plugin's
//! `hardening.rs`, operation for operation (a guest cannot depend on this
//! crate); `tests/all/native_twin.rs` checks that the sandboxed plugin and
//! this twin train the same student bit for bit. The algorithm and its
//! differences from the paper's code are documented in the plugin's crate
//! doc.

use candle_core::{DType, Tensor};

use crate::error::{Result, TrainError};
use crate::head::Head;
use crate::optim::Optimizer;
use crate::recipe::{Recipe, argmax_rows};
use crate::rng::Rng;

/// The confidence-loss method: a recipe plus the weight of the self-label
/// term and its warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogConf {
    /// Architecture, optimizer, epochs and batch size.
    pub recipe: Recipe,
    /// Final weight of the self-label term, in [0, 1].
    pub alpha: f32,
    /// Fraction of the steps over which the weight ramps up from 0.
    pub warmup: f32,
}

impl LogConf {
    /// The plugin's defaults: [`Recipe::reference`], alpha 0.75, warm-up
    /// over the first 20% of the steps.
    pub fn reference() -> Self {
        Self {
            recipe: Recipe::reference(),
            alpha: 0.75,
            warmup: 0.2,
        }
    }

    /// Trains a head from `seed` on `features` `(n, dim)` against the weak
    /// teacher's probabilities `weak_probs` (row-major `n * classes`; their
    /// argmax is the weak label). `on_step` is called after every step with
    /// (step, total steps).
    pub fn train(
        &self,
        features: &Tensor,
        weak_probs: &[f32],
        classes: usize,
        seed: u64,
        on_step: &mut dyn FnMut(u64, u64),
    ) -> Result<Head> {
        let (n, dim) = features.dims2()?;
        if weak_probs.len() != n * classes {
            return Err(TrainError::invalid(
                "weak_probs",
                format!("expected {} values, got {}", n * classes, weak_probs.len()),
            ));
        }
        let r = &self.recipe;
        if r.batch_size == 0 || r.epochs == 0 {
            return Err(TrainError::invalid(
                "recipe",
                "epochs and batch_size must be positive",
            ));
        }
        let weak: Vec<usize> = argmax_rows(weak_probs, classes)
            .into_iter()
            .map(|l| l as usize)
            .collect();
        let device = features.device();
        let mut head = Head::init(r.arch, dim, classes, seed, device)?;
        let mut opt = Optimizer::new(r.optimizer)?;
        let mut rng = Rng::for_stream(seed, "shuffle");
        let total = r.total_steps(n);
        let mut step = 0;
        for _ in 0..r.epochs {
            let order = rng.permutation(n);
            for batch in order.chunks(r.batch_size as usize) {
                let alpha = alpha_at(step, total, self.alpha, self.warmup);
                let weak_batch: Vec<usize> = batch.iter().map(|&i| weak[i as usize]).collect();
                let ix = Tensor::from_slice(batch, batch.len(), device)?;
                let x = features.index_select(&ix, 0)?;
                let probs = head.predict(&x)?.flatten_all()?.to_vec1::<f32>()?;
                let hard = harden(&probs, &weak_batch, classes);
                let targets = mixed_targets(&weak_batch, &hard, classes, alpha);
                let t = Tensor::from_vec(targets, (batch.len(), classes), device)?;
                let w = Tensor::ones(batch.len(), DType::F32, device)?;
                head.train_step(&mut opt, &x, &t, &w)?;
                step += 1;
                on_step(step, total);
            }
        }
        Ok(head)
    }
}

/// The weight of the self-label term at `step` (0-based) of
/// `total_steps`: `alpha_max * step / warmup_steps`, capped at `alpha_max`,
/// where `warmup_steps = round(warmup * total_steps)`; `alpha_max` from the
/// first step when `warmup_steps` is 0.
pub fn alpha_at(step: u64, total_steps: u64, alpha_max: f32, warmup: f32) -> f32 {
    let warmup_steps = (f64::from(warmup) * total_steps as f64).round() as u64;
    if warmup_steps == 0 || step >= warmup_steps {
        return alpha_max;
    }
    (f64::from(alpha_max) * step as f64 / warmup_steps as f64) as f32
}

/// The `q`-quantile of `values` (`q` in [0, 1]) with linear interpolation
/// between the closest ranks, as numpy's and torch's default. `values`
/// must be non-empty and free of NaN.
pub fn quantile(values: &[f32], q: f64) -> f64 {
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
pub fn harden(probs: &[f32], weak: &[usize], k: usize) -> Vec<usize> {
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
pub fn mixed_targets(weak: &[usize], hard: &[usize], k: usize, alpha: f32) -> Vec<f32> {
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
    use crate::recipe::one_hot;
    use candle_core::Device;

    #[test]
    fn alpha_zero_is_the_reference_recipe_bit_for_bit() {
        // With alpha = 0 the targets are exactly the one-hot weak labels and
        // the extra `predict` changes nothing: the same student as
        // `Recipe::train` on hard labels.
        let dev = Device::Cpu;
        let mut rng = Rng::new(3);
        let (n, d, k) = (96, 5, 3);
        let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
        let weak: Vec<f32> = (0..n * k).map(|_| rng.uniform() as f32).collect();
        let features = Tensor::from_vec(x, (n, d), &dev).unwrap();
        let recipe = Recipe {
            epochs: 2,
            batch_size: 32,
            ..Recipe::reference()
        };
        let method = LogConf {
            recipe,
            alpha: 0.0,
            warmup: 0.2,
        };
        let a = method
            .train(&features, &weak, k, 5, &mut |_, _| {})
            .unwrap();
        let hard = one_hot(&argmax_rows(&weak, k), k);
        let b = recipe
            .train(&features, &hard, k, 5, &mut |_, _| {})
            .unwrap();
        for (p, q) in a.params().iter().zip(b.params()) {
            let p = p.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let q = q.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(p.iter().zip(&q).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn the_self_label_term_changes_the_student() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(4);
        let (n, d, k) = (64, 4, 2);
        let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
        let weak: Vec<f32> = (0..n * k).map(|_| rng.uniform() as f32).collect();
        let features = Tensor::from_vec(x, (n, d), &dev).unwrap();
        let recipe = Recipe {
            epochs: 2,
            batch_size: 16,
            ..Recipe::reference()
        };
        let run = |alpha| {
            let m = LogConf {
                recipe,
                alpha,
                warmup: 0.0,
            };
            let h = m.train(&features, &weak, k, 1, &mut |_, _| {}).unwrap();
            h.params()[0]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(run(0.75), run(0.75));
        assert_ne!(run(0.75), run(0.0));
    }

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
