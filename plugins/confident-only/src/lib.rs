//! Confidence filtering: train the strong student on the weak teacher's
//! hard labels, but only on the examples where the teacher is confident
//! (the filtering idea discussed in Burns et al. 2023 and studied for
//! weak-to-strong training by Guo et al. 2024, arXiv:2406.19032).
//!
//! Algorithm, for a pool of `n` examples with teacher probabilities `p_i`:
//!
//! 1. confidence `c_i = max_k p_ik`;
//! 2. drop a set of examples, by one of two rules:
//!    - `drop_quantile = q` (the default, `q = 0.3`): drop the `floor(q n)`
//!      least confident examples (sorted by `c_i`, ties broken by the lower
//!      pool index first), so exactly that fraction goes whatever the
//!      teacher's calibration;
//!    - a band `low`, `high`: drop every example with
//!      `low <= c_i <= high` (`low` defaults to 0, `high` to 1; giving
//!      either selects this rule);
//! 3. the reference recipe on the kept examples only: an MLP of width 128
//!    within the policy, weights from the task seed, AdamW (lr 1e-3),
//!    batches of 128, `epochs` passes, each a fresh permutation of the kept
//!    examples from the `"shuffle"` stream of the task seed; targets one-hot
//!    of the teacher's argmax, every weight 1. An epoch has fewer steps than
//!    the baseline's (the deliberate difference: the dropped labels are
//!    never seen).
//!
//! Config keys (`key=value`, comma separated, all optional):
//! `drop_quantile` (0.3, in [0, 1)), or `low` and `high` (in [0, 1],
//! `low <= high`; not together with `drop_quantile`), `epochs` (20), `lr`
//! (1e-3), `batch` (128), `hidden` (128 within the policy; 0 asks for a
//! linear probe). Metrics (step 0): `kept_fraction`,
//! `kept_min_confidence`, `dropped_max_confidence`; then `train_loss` per
//! epoch.

use w2s_guest_sdk::{
    Config, Matrix, Recipe, Strategy, StrategyError, Student, log_metric, subset, task,
    weak_probs_chunked,
};

/// Which examples to drop.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    /// Drop the `floor(q n)` least confident examples.
    Quantile(f64),
    /// Drop the examples whose confidence lies in `[low, high]`.
    Band { low: f32, high: f32 },
}

/// The method's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Passes over the kept examples (default 20).
    epochs: u32,
    /// The drop rule (default: the 30% least confident).
    filter: Filter,
    /// The shared recipe keys (`lr`, `batch`, `hidden`).
    recipe: Recipe,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let epochs = c.take_or("epochs", 20)?;
        let quantile: Option<f64> = c.take("drop_quantile")?;
        let low: Option<f32> = c.take("low")?;
        let high: Option<f32> = c.take("high")?;
        let recipe = Recipe::take(&mut c)?;
        c.finish()?;
        let filter = match (quantile, low, high) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err("give either drop_quantile or low/high, not both".into());
            }
            (None, None, None) => Filter::Quantile(0.3),
            (Some(q), None, None) => {
                if !(0.0..1.0).contains(&q) {
                    return Err("drop_quantile must be in [0, 1)".into());
                }
                Filter::Quantile(q)
            }
            (None, low, high) => {
                let (low, high) = (low.unwrap_or(0.0), high.unwrap_or(1.0));
                if !((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high) && low <= high) {
                    return Err("low and high must satisfy 0 <= low <= high <= 1".into());
                }
                Filter::Band { low, high }
            }
        };
        Ok(Self {
            epochs,
            filter,
            recipe,
        })
    }
}

/// The teacher's confidence in each row: its largest probability.
fn confidences(probs: &Matrix) -> Vec<f32> {
    probs
        .iter_rows()
        .map(|row| row.iter().copied().fold(0.0, f32::max))
        .collect()
}

/// Whether each example is kept under `filter`.
fn keep_mask(confidence: &[f32], filter: Filter) -> Vec<bool> {
    match filter {
        Filter::Band { low, high } => confidence
            .iter()
            .map(|&c| !(low <= c && c <= high))
            .collect(),
        Filter::Quantile(q) => {
            let drop = (q * confidence.len() as f64).floor() as usize;
            let mut by_confidence: Vec<usize> = (0..confidence.len()).collect();
            // Stable: equal confidences keep index order, lower index first.
            by_confidence.sort_by(|&a, &b| confidence[a].total_cmp(&confidence[b]));
            let mut keep = vec![true; confidence.len()];
            for &i in &by_confidence[..drop] {
                keep[i] = false;
            }
            keep
        }
    }
}

/// Confidence filtering.
struct ConfidentOnly;

impl Strategy for ConfidentOnly {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?;
        let confidence = confidences(&weak);
        let keep = keep_mask(&confidence, settings.filter);
        let kept = subset(&pool, &keep);
        if kept.is_empty() {
            return Err("the filter drops every example of the pool".into());
        }
        log_metrics(&confidence, &keep);

        let targets = Matrix::one_hot(&weak.argmax_rows(), task::num_classes());
        let mut training = settings.recipe.start(seed)?;
        training.train(&kept, &targets, None, settings.epochs)?;
        Ok(training.into_student())
    }
}

/// The filter's diagnostics, at step 0.
fn log_metrics(confidence: &[f32], keep: &[bool]) {
    let kept = keep.iter().filter(|k| **k).count();
    log_metric(0, "kept_fraction", kept as f64 / keep.len() as f64);
    let on_side = |side: bool| {
        confidence
            .iter()
            .zip(keep)
            .filter(move |(_, k)| **k == side)
            .map(|(c, _)| *c)
    };
    if let Some(min) = on_side(true).reduce(f32::min) {
        log_metric(0, "kept_min_confidence", f64::from(min));
    }
    if let Some(max) = on_side(false).reduce(f32::max) {
        log_metric(0, "dropped_max_confidence", f64::from(max));
    }
}

w2s_guest_sdk::export_strategy!(ConfidentOnly);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_drops_the_least_confident_thirty_percent() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                epochs: 20,
                filter: Filter::Quantile(0.3),
                recipe: Recipe::default()
            }
        );
    }

    #[test]
    fn band_keys_select_the_band_rule() {
        let s = Settings::parse("high=0.6").unwrap();
        assert_eq!(
            s.filter,
            Filter::Band {
                low: 0.0,
                high: 0.6
            }
        );
        let s = Settings::parse("low=0.3,high=0.5,epochs=2").unwrap();
        assert_eq!(
            (s.filter, s.epochs),
            (
                Filter::Band {
                    low: 0.3,
                    high: 0.5
                },
                2
            )
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            "drop_quantile=1",
            "drop_quantile=-0.1",
            "drop_quantile=0.2,high=0.5",
            "low=0.6,high=0.5",
            "high=1.5",
            "threshold=0.5",
            "batch=0",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantile_drops_exactly_the_floor_and_breaks_ties_by_index() {
        let c = [0.9, 0.4, 0.4, 0.7, 0.4];
        // floor(0.5 * 5) = 2 dropped: the two lowest, 0.4 at indices 1 and 2.
        assert_eq!(
            keep_mask(&c, Filter::Quantile(0.5)),
            [true, false, false, true, true]
        );
        assert_eq!(keep_mask(&c, Filter::Quantile(0.0)), [true; 5]);
        assert_eq!(keep_mask(&[], Filter::Quantile(0.5)), Vec::<bool>::new());
    }

    #[test]
    fn band_is_inclusive() {
        let c = [0.3, 0.5, 0.6, 0.61];
        assert_eq!(
            keep_mask(
                &c,
                Filter::Band {
                    low: 0.3,
                    high: 0.6
                }
            ),
            [false, false, false, true]
        );
    }

    #[test]
    fn confidence_is_the_largest_probability() {
        let m = Matrix::new(vec![0.2, 0.5, 0.3, 0.9, 0.05, 0.05], 3).unwrap();
        assert_eq!(confidences(&m), vec![0.5, 0.9]);
    }
}
