//! Scoring one student checkpoint.

use std::path::Path;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use w2s_train::{checkpoint, recipe};

use crate::baseline::{self, CacheStatus};
use crate::error::ScorerError;
use crate::heldout::Heldout;

/// The scorer's verdict on one student.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    /// sha256 of the bundle's `task.toml`.
    pub task_hash: String,
    /// The weak teacher's test accuracy.
    pub weak_acc: f64,
    /// Mean ceiling test accuracy.
    pub ceiling_acc: f64,
    /// Ceiling test accuracy per seed.
    pub ceiling_accs: Vec<f64>,
    /// The seeds the ceiling was trained under.
    pub ceiling_seeds: Vec<u64>,
    /// The ceiling recipe.
    pub ceiling_recipe: String,
    /// How the baselines were obtained.
    pub baseline_cache: CacheStatus,
    /// The student's test accuracy, from predictions the scorer computed.
    pub student_acc: f64,
    /// Performance gap recovered.
    pub pgr: f64,
    /// The student's architecture.
    pub student_arch: String,
    /// Test examples scored.
    pub test_size: usize,
}

/// Scores the student in `checkpoint_bytes` on the bundle at `dir`.
pub fn score_checkpoint(
    dir: &Path,
    checkpoint_bytes: &[u8],
    on_ceiling_step: &mut dyn FnMut(u64, u64),
) -> Result<ScoreReport, ScorerError> {
    let device = Device::Cpu;
    let h = Heldout::open(dir, &device)?;
    let head = checkpoint::from_bytes(checkpoint_bytes, &device)?;
    if head.in_dim() != h.manifest.feature_dim as usize || head.classes() != h.classes() {
        return Err(ScorerError::CheckpointMismatch(format!(
            "student maps {} features to {} classes; the task has {} features and {} classes",
            head.in_dim(),
            head.classes(),
            h.manifest.feature_dim,
            h.classes()
        )));
    }
    let (baselines, cache) = baseline::load_or_compute(dir, &h, on_ceiling_step)?;
    let probs = recipe::predict_all(&head, &h.test_features, 4096)?;
    let student_acc = recipe::accuracy(&probs, h.classes(), &h.test_labels);
    let (weak, ceiling) = (baselines.weak_acc, baselines.ceiling_acc());
    if ceiling - weak < 1e-6 {
        return Err(ScorerError::NoGap { weak, ceiling });
    }
    Ok(ScoreReport {
        task_hash: h.task_hash.clone(),
        weak_acc: weak,
        ceiling_acc: ceiling,
        ceiling_accs: baselines.ceiling_accs.clone(),
        ceiling_seeds: baselines.ceiling_seeds.clone(),
        ceiling_recipe: baselines.recipe.clone(),
        baseline_cache: cache,
        student_acc,
        pgr: pgr(student_acc, weak, ceiling),
        student_arch: head.arch().describe(),
        test_size: h.test_labels.len(),
    })
}

/// PGR = (student - weak) / (ceiling - weak).
pub fn pgr(student: f64, weak: f64, ceiling: f64) -> f64 {
    (student - weak) / (ceiling - weak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgr_endpoints() {
        assert_eq!(pgr(0.6, 0.6, 0.9), 0.0);
        assert!((pgr(0.9, 0.6, 0.9) - 1.0).abs() < 1e-12);
        assert!((pgr(0.75, 0.6, 0.9) - 0.5).abs() < 1e-12);
    }
}
