//! The weak-ceiling gap and its standard error: is a task able to rank
//! methods?
//!
//! PGR divides by the gap between the ceiling and the weak teacher, so a
//! gap that is small next to its own noise makes every PGR noise. One rule
//! decides it, used by the task card of `w2s task build` and by the
//! `small-gap` flag of reports: the gap is *small* when it is under
//! [`SMALL_GAP_SES`] standard errors (or not positive).
//!
//! The standard error treats the test examples as a sample and the ceiling
//! seeds as another: `se² = w(1-w)/n + c(1-c)/n + se_seeds(c)²`, with `w`
//! the weak teacher's test accuracy, `c` the ceiling's mean over seeds,
//! `n` the test size and `se_seeds(c)` the standard error of the mean of
//! the per-seed ceiling accuracies. The two accuracies are treated as
//! independent, which overstates the error when they are right on the same
//! examples: the rule errs toward flagging.

use serde::{Deserialize, Serialize};

/// A gap under this many standard errors is too small to rank methods.
pub const SMALL_GAP_SES: f64 = 3.0;

/// The gap between a ceiling and a weak teacher on one test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GapEstimate {
    /// The weak teacher's test accuracy.
    pub weak_acc: f64,
    /// The ceiling's mean test accuracy over seeds.
    pub ceiling_acc: f64,
    /// The standard error of that mean over seeds (0 with one seed).
    pub ceiling_se: f64,
    /// Ceiling seeds.
    pub seeds: usize,
    /// `ceiling_acc - weak_acc`.
    pub gap: f64,
    /// The gap's standard error (see the module docs).
    pub gap_se: f64,
    /// Test examples.
    pub test_size: usize,
}

impl GapEstimate {
    /// The estimate from the weak accuracy, the per-seed ceiling
    /// accuracies and the test size.
    pub fn new(weak_acc: f64, ceiling_accs: &[f64], test_size: usize) -> Self {
        let s = ceiling_accs.len();
        let ceiling_acc = ceiling_accs.iter().sum::<f64>() / s.max(1) as f64;
        let ceiling_se = if s > 1 {
            let var = ceiling_accs
                .iter()
                .map(|a| (a - ceiling_acc).powi(2))
                .sum::<f64>()
                / (s - 1) as f64;
            (var / s as f64).sqrt()
        } else {
            0.0
        };
        let n = test_size.max(1) as f64;
        let binomial = |p: f64| p * (1.0 - p) / n;
        let gap_se = (binomial(weak_acc) + binomial(ceiling_acc) + ceiling_se.powi(2)).sqrt();
        GapEstimate {
            weak_acc,
            ceiling_acc,
            ceiling_se,
            seeds: s,
            gap: ceiling_acc - weak_acc,
            gap_se,
            test_size,
        }
    }

    /// Whether the gap is too small to rank methods: not positive, or under
    /// [`SMALL_GAP_SES`] standard errors (NaN counts as small).
    pub fn is_small(&self) -> bool {
        !(self.gap > 0.0 && self.gap >= SMALL_GAP_SES * self.gap_se)
    }

    /// The gap in standard errors (infinite when the error is 0 and the
    /// gap positive).
    pub fn ses(&self) -> f64 {
        self.gap / self.gap_se
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_17_tweets_task_is_small_and_a_synthetic_family_is_not() {
        // Issue 17: weak 0.65, ceiling 0.70 on about 600 test tweets.
        let tweets = GapEstimate::new(0.65, &[0.70, 0.70, 0.70], 600);
        // se = sqrt(.65*.35/600 + .7*.3/600) = 0.027003 (python3 math.sqrt).
        assert!((tweets.gap_se - 0.027003).abs() < 1e-6, "{tweets:?}");
        assert!(tweets.is_small());
        // docs/RESULTS.md, latent: weak 0.575, ceiling 0.925.
        let latent = GapEstimate::new(0.575, &[0.92, 0.93], 2000);
        assert!(!latent.is_small(), "{latent:?}");
    }

    #[test]
    fn seed_spread_widens_the_error_and_no_gap_is_small() {
        let tight = GapEstimate::new(0.6, &[0.7, 0.7], 400);
        let spread = GapEstimate::new(0.6, &[0.6, 0.8], 400);
        assert_eq!(tight.ceiling_se, 0.0);
        assert!((spread.ceiling_se - 0.1).abs() < 1e-12);
        assert!(spread.gap_se > tight.gap_se);
        assert!(GapEstimate::new(1.0, &[1.0], 100).is_small());
        assert!(GapEstimate::new(0.7, &[0.6], 100).is_small());
        assert!(GapEstimate::new(f64::NAN, &[0.6], 100).is_small());
    }
}
