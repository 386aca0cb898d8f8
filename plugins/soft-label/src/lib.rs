//! Soft-label distillation (Hinton et al. 2015), the weak-to-strong
//! baseline with the teacher's confidence kept (Burns et al. 2023): train
//! the strong student on the weak teacher's full probability vectors
//! instead of their argmax.
//!
//! Algorithm, for a pool of `n` examples with teacher probabilities `p_i`:
//!
//! 1. target `t_i = temper(p_i, T)`, with `temper(p, T)_c = p_c^(1/T) /
//!    sum_k p_k^(1/T)` (computed as a softmax of `ln p / T`; a zero
//!    probability stays zero). `T = 1` keeps the teacher's probabilities,
//!    `T < 1` sharpens them towards its argmax, `T > 1` flattens them;
//! 2. the reference recipe, unchanged otherwise: an MLP of width 128 within
//!    the policy, weights from the task seed, AdamW (lr 1e-3), batches of
//!    128, `epochs` passes, each a fresh permutation from the `"shuffle"`
//!    stream of the task seed, every weight 1, loss the soft cross-entropy
//!    `-sum_c t_ic log softmax(f(x_i))_c` (the fused `train-step`).
//!
//! With `T -> 0` this tends to vanilla (one-hot argmax targets). Unlike
//! Hinton et al., the student's logits are not divided by `T`: only the
//! targets are tempered.
//!
//! Config keys (`key=value`, comma separated, all optional): `temperature`
//! (default 1, finite and positive), `epochs` (20), `lr` (1e-3), `batch`
//! (128), `hidden` (128 within the policy; 0 asks for a linear probe).
//! Metric: `train_loss` per epoch (mean soft cross-entropy before each
//! step), and `target_entropy` at step 0 (mean entropy of the targets, in
//! nats).

use w2s_guest_sdk::{
    Config, Matrix, Recipe, Strategy, StrategyError, Student, log_metric, task, weak_probs_chunked,
};

/// The method's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Passes over the pool (default 20).
    epochs: u32,
    /// Temperature applied to the teacher's probabilities (default 1).
    temperature: f32,
    /// The shared recipe keys (`lr`, `batch`, `hidden`).
    recipe: Recipe,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let settings = Self {
            epochs: c.take_or("epochs", 20)?,
            temperature: c.take_or("temperature", 1.0)?,
            recipe: Recipe::take(&mut c)?,
        };
        c.finish()?;
        if !(settings.temperature.is_finite() && settings.temperature > 0.0) {
            return Err("temperature must be finite and positive".into());
        }
        Ok(settings)
    }
}

/// `p^(1/T)` renormalized: a softmax of `ln p / T`, in f64. Zero entries
/// stay zero; a row with no positive entry is returned as it is.
fn temper(row: &[f32], temperature: f32) -> Vec<f32> {
    let t = f64::from(temperature);
    let logs: Vec<f64> = row
        .iter()
        .map(|&p| {
            if p > 0.0 {
                f64::from(p).ln() / t
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return row.to_vec();
    }
    let exps: Vec<f64> = logs.iter().map(|&l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|&e| (e / sum) as f32).collect()
}

/// Entropy in nats of a probability row.
fn entropy(row: &[f32]) -> f64 {
    row.iter()
        .filter(|&&p| p > 0.0)
        .map(|&p| -f64::from(p) * f64::from(p).ln())
        .sum()
}

/// Soft-label distillation.
struct SoftLabel;

impl Strategy for SoftLabel {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?;
        let tempered: Vec<f32> = if settings.temperature == 1.0 {
            weak.into_vec()
        } else {
            weak.iter_rows()
                .flat_map(|row| temper(row, settings.temperature))
                .collect()
        };
        let targets = Matrix::new(tempered, task::num_classes())?;
        if !targets.is_empty() {
            let mean_entropy = targets.iter_rows().map(entropy).sum::<f64>() / pool.len() as f64;
            log_metric(0, "target_entropy", mean_entropy);
        }
        let mut training = settings.recipe.start(seed)?;
        training.train(&pool, &targets, None, settings.epochs)?;
        Ok(training.into_student())
    }
}

w2s_guest_sdk::export_strategy!(SoftLabel);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_reference_recipe_at_temperature_one() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                epochs: 20,
                temperature: 1.0,
                recipe: Recipe::default()
            }
        );
    }

    #[test]
    fn overrides_and_refusals() {
        let s = Settings::parse("temperature=0.5,epochs=3,hidden=0").unwrap();
        assert_eq!(
            (s.temperature, s.epochs, s.recipe.hidden),
            (0.5, 3, Some(0))
        );
        for bad in [
            "temperature=0",
            "temperature=-1",
            "temperature=nan",
            "batch=0",
            "beta=1",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn temperature_one_keeps_the_distribution() {
        let p = [0.1, 0.2, 0.7];
        let t = temper(&p, 1.0);
        for (a, b) in p.iter().zip(&t) {
            assert!((a - b).abs() < 1e-6, "{p:?} -> {t:?}");
        }
    }

    #[test]
    fn half_temperature_squares_and_renormalizes() {
        // (0.25, 0.75) squared is (0.0625, 0.5625), sum 0.625: (0.1, 0.9).
        let t = temper(&[0.25, 0.75], 0.5);
        assert!(
            (t[0] - 0.1).abs() < 1e-6 && (t[1] - 0.9).abs() < 1e-6,
            "{t:?}"
        );
        // A high temperature flattens: 1/T = 0 gives uniform on the support.
        let flat = temper(&[0.0, 0.2, 0.8], 1e30);
        assert_eq!(flat[0], 0.0);
        assert!((flat[1] - 0.5).abs() < 1e-6, "{flat:?}");
    }

    #[test]
    fn low_temperature_tends_to_one_hot_without_overflow() {
        let t = temper(&[0.3, 0.3001, 0.3999], 1e-3);
        assert_eq!(t, vec![0.0, 0.0, 1.0]);
        assert_eq!(temper(&[0.0, 0.0], 0.5), vec![0.0, 0.0]);
    }

    #[test]
    fn entropy_of_uniform_and_one_hot() {
        assert!((entropy(&[0.25; 4]) - 4f64.ln()).abs() < 1e-9);
        assert_eq!(entropy(&[0.0, 1.0]), 0.0);
    }
}
