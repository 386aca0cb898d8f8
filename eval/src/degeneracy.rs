//! Part of the fifth stage: degeneracy checks on a student's predictions
//! over the pool.
//!
//! They run in this process, on the public pool (features and weak labels),
//! so they need nothing held out and reveal nothing about test labels. For
//! each completed run, the student's predicted class (argmax) on every pool
//! example gives a class distribution, compared with the distribution of
//! the teacher's hard labels on the same pool:
//!
//! - **near-constant predictions**: one class takes at least
//!   [`NEAR_CONSTANT`] (90%) of the pool while the teacher's largest class
//!   takes less than that. A student that always answers the same thing has
//!   learned no more than the class prior.
//! - **class distribution shift**: the total variation distance
//!   `½ Σ_c |p_student(c) - p_weak(c)|` is above [`MAX_TV_TO_WEAK`] (0.25):
//!   at least a quarter of the pool would have to change class for the
//!   student to match the teacher's class balance. A student that corrects
//!   its teacher's errors moves the balance by the teacher's bias (0.04 in
//!   total variation against the truth on the default task), far below the
//!   threshold.

use crate::error::Result;
use serde::Serialize;
use w2s_train::bundle::PublicTask;
use w2s_train::{Head, recipe};

/// Largest class fraction that counts as near-constant.
pub const NEAR_CONSTANT: f64 = 0.9;
/// Largest total variation distance to the teacher's class distribution
/// that is not flagged.
pub const MAX_TV_TO_WEAK: f64 = 0.25;

/// Rows per prediction batch.
const CHUNK: usize = 4096;

/// A student's class distribution on the pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolPredictions {
    /// Fraction of the pool predicted as each class.
    pub class_fractions: Vec<f64>,
    /// The largest of them.
    pub largest_class_fraction: f64,
    /// Total variation distance to the teacher's hard-label distribution.
    pub tv_to_weak: f64,
}

/// Fraction of `labels` in each of `k` classes.
pub fn class_fractions(labels: &[u32], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
        .iter()
        .map(|&c| c as f64 / labels.len().max(1) as f64)
        .collect()
}

/// Total variation distance between two distributions.
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// The teacher's hard-label class distribution on the pool.
pub fn weak_class_fractions(task: &PublicTask) -> Vec<f64> {
    let k = task.classes();
    class_fractions(&recipe::argmax_rows(&task.weak_probs, k), k)
}

/// The class distribution of `head`'s predictions on the pool.
pub fn pool_predictions(head: &Head, task: &PublicTask, weak: &[f64]) -> Result<PoolPredictions> {
    let probs = recipe::predict_all(head, &task.features, CHUNK)?;
    Ok(fractions_of(&probs, task.classes(), weak))
}

/// [`pool_predictions`] for an `lm-lora` student: its predictions on the
/// tokenized pool, 16 rows per forward.
pub fn lora_pool_predictions(
    student: &w2s_train::lora::LoraStudent,
    task: &PublicTask,
    weak: &[f64],
) -> Result<Option<PoolPredictions>> {
    let Some(tokens) = &task.pool_tokens else {
        return Ok(None);
    };
    let probs = w2s_train::lora_recipe::predict_all(student, tokens, 16)?;
    Ok(Some(fractions_of(&probs, task.classes(), weak)))
}

fn fractions_of(probs: &[f32], k: usize, weak: &[f64]) -> PoolPredictions {
    let class_fractions = class_fractions(&recipe::argmax_rows(probs, k), k);
    PoolPredictions {
        largest_class_fraction: class_fractions.iter().copied().fold(0.0, f64::max),
        tv_to_weak: total_variation(&class_fractions, weak),
        class_fractions,
    }
}

/// The `degeneracy` section of a report: the thresholds, the teacher's
/// distribution, and which seeds crossed a threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Degeneracy {
    /// [`NEAR_CONSTANT`].
    pub near_constant_threshold: f64,
    /// [`MAX_TV_TO_WEAK`].
    pub max_tv_to_weak: f64,
    /// The teacher's hard-label class distribution on the pool.
    pub weak_class_fractions: Vec<f64>,
    /// Seeds whose student is near-constant on the pool.
    pub near_constant_seeds: Vec<u64>,
    /// Seeds whose student's class distribution is far from the teacher's.
    pub shifted_seeds: Vec<u64>,
}

impl Degeneracy {
    /// Checks the pool predictions of each seed's student.
    pub fn check<'a>(
        weak: Vec<f64>,
        runs: impl IntoIterator<Item = (u64, &'a PoolPredictions)>,
    ) -> Self {
        let weak_largest = weak.iter().copied().fold(0.0, f64::max);
        let mut near_constant_seeds = Vec::new();
        let mut shifted_seeds = Vec::new();
        for (seed, p) in runs {
            if p.largest_class_fraction >= NEAR_CONSTANT && weak_largest < NEAR_CONSTANT {
                near_constant_seeds.push(seed);
            }
            if p.tv_to_weak > MAX_TV_TO_WEAK {
                shifted_seeds.push(seed);
            }
        }
        Self {
            near_constant_threshold: NEAR_CONSTANT,
            max_tv_to_weak: MAX_TV_TO_WEAK,
            weak_class_fractions: weak,
            near_constant_seeds,
            shifted_seeds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(fractions: &[f64], weak: &[f64]) -> PoolPredictions {
        PoolPredictions {
            class_fractions: fractions.to_vec(),
            largest_class_fraction: fractions.iter().copied().fold(0.0, f64::max),
            tv_to_weak: total_variation(fractions, weak),
        }
    }

    #[test]
    fn fractions_and_distance() {
        assert_eq!(
            class_fractions(&[0, 1, 1, 3], 4),
            vec![0.25, 0.5, 0.0, 0.25]
        );
        assert_eq!(total_variation(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        assert_eq!(total_variation(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
    }

    #[test]
    fn constant_and_shifted_students_are_caught_and_a_faithful_one_is_not() {
        let weak = vec![0.3, 0.2, 0.3, 0.2];
        let constant = preds(&[1.0, 0.0, 0.0, 0.0], &weak);
        let two_classes = preds(&[0.6, 0.0, 0.4, 0.0], &weak);
        let faithful = preds(&[0.28, 0.22, 0.27, 0.23], &weak);
        let d = Degeneracy::check(
            weak.clone(),
            [(1, &constant), (2, &two_classes), (3, &faithful)],
        );
        assert_eq!(d.near_constant_seeds, vec![1]);
        assert_eq!(d.shifted_seeds, vec![1, 2]);
    }

    #[test]
    fn a_lopsided_teacher_excuses_a_lopsided_student() {
        let weak = vec![0.97, 0.03];
        let student = preds(&[0.99, 0.01], &weak);
        let d = Degeneracy::check(weak, [(1, &student)]);
        assert!(d.near_constant_seeds.is_empty() && d.shifted_seeds.is_empty());
    }
}
