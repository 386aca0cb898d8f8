//! Confidence reweighting: train the strong student on every weak hard
//! label, each weighted by how confident the teacher is (the
//! reliability-weighted weak-to-strong training of Guo et al. 2024,
//! arXiv:2406.19032, with the teacher's own confidence as the reliability
//! estimate).
//!
//! Algorithm, for a pool of `n` examples with teacher probabilities `p_i`
//! over `K` classes:
//!
//! 1. confidence `c_i` in [0, 1], by `measure`:
//!    - `max_prob` (default): `(max_k p_ik - 1/K) / (1 - 1/K)`, the largest
//!      probability rescaled so that a uniform row gives 0 and a one-hot
//!      row 1;
//!    - `margin`: the largest probability minus the second largest;
//! 2. raw weight `c_i^power` (`power` default 2; 0 gives vanilla's unit
//!    weights), then normalized to mean 1 over the pool: `w_i = n c_i^power /
//!    sum_j c_j^power` (all ones when every raw weight is 0);
//! 3. the reference recipe with those weights: an MLP of width 128 within
//!    the policy, weights from the task seed, AdamW (lr 1e-3), batches of
//!    128, `epochs` passes over the whole pool, each a fresh permutation
//!    from the `"shuffle"` stream of the task seed, targets one-hot of the
//!    teacher's argmax, and per-batch loss `sum_i w_i CE_i / sum_i w_i` (the
//!    fused `train-step`). The batch normalizes by its own weight sum, which
//!    for 128 mean-1 weights stays close to 128, so each batch's step is
//!    about the global weighted objective's; batches whose weights are all
//!    0 are skipped.
//!
//! Config keys (`key=value`, comma separated, all optional): `power` (2,
//! finite, >= 0), `measure` (`max_prob` or `margin`), `epochs` (20), `lr`
//! (1e-3), `batch` (128), `hidden` (128 within the policy; 0 asks for a
//! linear probe). Metrics (step 0): `weight_min`, `weight_max`,
//! `effective_fraction` (`(sum w)^2 / (n sum w^2)`, Kish's effective
//! sample size over `n`); then `train_loss` per epoch (weighted mean).

use w2s_guest_sdk::{
    Config, Matrix, Recipe, Strategy, StrategyError, Student, log_metric, task, weak_probs_chunked,
};

/// How the teacher's confidence in one row is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// The largest probability, rescaled from `[1/K, 1]` to `[0, 1]`.
    MaxProb,
    /// The largest probability minus the second largest.
    Margin,
}

impl std::str::FromStr for Measure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "max_prob" => Ok(Self::MaxProb),
            "margin" => Ok(Self::Margin),
            _ => Err("expected max_prob or margin".to_owned()),
        }
    }
}

/// The method's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Passes over the pool (default 20).
    epochs: u32,
    /// Exponent applied to the confidence (default 2).
    power: f64,
    /// Confidence measure (default `max_prob`).
    measure: Measure,
    /// The shared recipe keys (`lr`, `batch`, `hidden`).
    recipe: Recipe,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let settings = Self {
            epochs: c.take_or("epochs", 20)?,
            power: c.take_or("power", 2.0)?,
            measure: c.take_or("measure", Measure::MaxProb)?,
            recipe: Recipe::take(&mut c)?,
        };
        c.finish()?;
        if !(settings.power.is_finite() && settings.power >= 0.0) {
            return Err("power must be finite and >= 0".into());
        }
        Ok(settings)
    }
}

/// The confidence of one probability row, in [0, 1].
fn confidence(row: &[f32], measure: Measure) -> f64 {
    let (mut first, mut second) = (0.0f64, 0.0f64);
    for &p in row {
        let p = f64::from(p);
        if p > first {
            (first, second) = (p, first);
        } else if p > second {
            second = p;
        }
    }
    let c = match measure {
        Measure::MaxProb if row.len() > 1 => {
            let uniform = 1.0 / row.len() as f64;
            (first - uniform) / (1.0 - uniform)
        }
        Measure::MaxProb => 1.0,
        Measure::Margin => first - second,
    };
    c.clamp(0.0, 1.0)
}

/// `c_i^power`, normalized to mean 1 (all ones when every one is 0).
fn mean_one_weights(confidence: &[f64], power: f64) -> Vec<f32> {
    let raw: Vec<f64> = confidence.iter().map(|&c| c.powf(power)).collect();
    let sum: f64 = raw.iter().sum();
    if sum <= 0.0 {
        return vec![1.0; raw.len()];
    }
    let scale = raw.len() as f64 / sum;
    raw.iter().map(|&r| (r * scale) as f32).collect()
}

/// Kish's effective sample size over `n`: `(sum w)^2 / (n sum w^2)`.
fn effective_fraction(weights: &[f32]) -> f64 {
    let sum: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let squares: f64 = weights.iter().map(|&w| f64::from(w).powi(2)).sum();
    if squares == 0.0 {
        return 0.0;
    }
    sum * sum / (weights.len() as f64 * squares)
}

/// Confidence reweighting.
struct ConfidenceReweight;

impl Strategy for ConfidenceReweight {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?;
        let conf: Vec<f64> = weak
            .iter_rows()
            .map(|row| confidence(row, settings.measure))
            .collect();
        let weights = mean_one_weights(&conf, settings.power);
        if let (Some(min), Some(max)) = (
            weights.iter().copied().reduce(f32::min),
            weights.iter().copied().reduce(f32::max),
        ) {
            log_metric(0, "weight_min", f64::from(min));
            log_metric(0, "weight_max", f64::from(max));
            log_metric(0, "effective_fraction", effective_fraction(&weights));
        }

        let targets = Matrix::one_hot(&weak.argmax_rows(), task::num_classes());
        let mut training = settings.recipe.start(seed)?;
        training.train(&pool, &targets, Some(&weights), settings.epochs)?;
        Ok(training.into_student())
    }
}

w2s_guest_sdk::export_strategy!(ConfidenceReweight);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_max_prob_squared() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                epochs: 20,
                power: 2.0,
                measure: Measure::MaxProb,
                recipe: Recipe::default()
            }
        );
    }

    #[test]
    fn overrides_and_refusals() {
        let s = Settings::parse("measure=margin,power=0.5,lr=1e-2").unwrap();
        assert_eq!(
            (s.measure, s.power, s.recipe.lr),
            (Measure::Margin, 0.5, 1e-2)
        );
        for bad in [
            "power=-1",
            "power=inf",
            "measure=entropy",
            "batch=0",
            "floor=0.1",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn confidence_measures() {
        // Max-prob: 0.625 over 4 classes rescales to (0.625 - 0.25) / 0.75 = 0.5.
        assert!((confidence(&[0.625, 0.125, 0.125, 0.125], Measure::MaxProb) - 0.5).abs() < 1e-9);
        assert_eq!(confidence(&[0.25; 4], Measure::MaxProb), 0.0);
        assert_eq!(confidence(&[0.0, 1.0], Measure::MaxProb), 1.0);
        // Margin: 0.5 - 0.25 (ties for first give 0).
        assert!((confidence(&[0.25, 0.5, 0.25], Measure::Margin) - 0.25).abs() < 1e-9);
        assert_eq!(confidence(&[0.5, 0.5], Measure::Margin), 0.0);
    }

    #[test]
    fn weights_have_mean_one() {
        let w = mean_one_weights(&[0.0, 0.5, 1.0], 2.0);
        // Raw 0, 0.25, 1 (sum 1.25); times 3 / 1.25 = 2.4.
        assert_eq!(w[0], 0.0);
        assert!(
            (w[1] - 0.6).abs() < 1e-6 && (w[2] - 2.4).abs() < 1e-6,
            "{w:?}"
        );
        assert_eq!(mean_one_weights(&[0.0, 0.0], 2.0), vec![1.0, 1.0]);
        assert_eq!(mean_one_weights(&[0.0, 0.3], 0.0), vec![1.0, 1.0]);
    }

    #[test]
    fn effective_fraction_of_equal_and_concentrated_weights() {
        assert!((effective_fraction(&[1.0; 8]) - 1.0).abs() < 1e-12);
        assert!((effective_fraction(&[4.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
    }
}
