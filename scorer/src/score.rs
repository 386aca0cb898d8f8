//! Scoring student checkpoints: every student of one evaluation (all its
//! seeds, and its control runs) in one call, so the held-out data is
//! verified and the baselines are loaded once.

use std::path::Path;

use candle_core::Device;
use w2s_train::{checkpoint, recipe};

use crate::baseline::{self, SCORER_VERSION};
use crate::error::ScorerError;
use crate::heldout::Heldout;
use crate::splits::{Part, SPLIT_RULE, TestSplit};
use crate::subsets;

pub use w2s_verdict::{PartScore, ScoreSet, SplitInfo, StudentScore};

/// Scores every checkpoint in `checkpoints` on the bundle at `dir`.
pub fn score_checkpoints(
    dir: &Path,
    checkpoints: &[Vec<u8>],
    on_ceiling_step: &mut dyn FnMut(u64, u64),
) -> Result<ScoreSet, ScorerError> {
    let device = Device::Cpu;
    let h = Heldout::open(dir, &device)?;
    let heads = checkpoints
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let head = checkpoint::from_bytes(bytes, &device)?;
            if head.in_dim() != h.manifest.feature_dim as usize || head.classes() != h.classes() {
                return Err(ScorerError::CheckpointMismatch(format!(
                    "student {i} maps {} features to {} classes; the task has {} features and {} classes",
                    head.in_dim(),
                    head.classes(),
                    h.manifest.feature_dim,
                    h.classes()
                )));
            }
            Ok(head)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let split = TestSplit::new(&h.task_hash, h.test_labels.len());
    let (baselines, cache) = baseline::load_or_compute(dir, &h, &split, on_ceiling_step)?;
    for part in [Part::Public, Part::Private] {
        let b = baselines.part(part);
        let (weak, ceiling) = (b.weak_acc, b.ceiling_acc());
        if ceiling - weak < 1e-6 {
            return Err(ScorerError::NoGap {
                part: part_name(part),
                weak,
                ceiling,
            });
        }
    }
    let mut students = Vec::with_capacity(heads.len());
    for head in &heads {
        let probs = recipe::predict_all(head, &h.test_features, 4096)?;
        let predicted = recipe::argmax_rows(&probs, h.classes());
        let figures = |part: Part| {
            let b = baselines.part(part);
            let student_acc = split.accuracy(part, &predicted, &h.test_labels);
            PartScore {
                student_acc,
                pgr: pgr(student_acc, b.weak_acc, b.ceiling_acc()),
            }
        };
        students.push(StudentScore {
            arch: head.arch().describe(),
            public: figures(Part::Public),
            private: figures(Part::Private),
            subsets: match &h.test_subsets {
                Some(s) => {
                    subsets::scores(&split, s, &baselines.subsets, &predicted, &h.test_labels)
                }
                None => Vec::new(),
            },
        });
    }
    Ok(ScoreSet {
        task_hash: h.task_hash.clone(),
        scorer_version: SCORER_VERSION.to_owned(),
        split: SplitInfo {
            rule: SPLIT_RULE.to_owned(),
            public_size: split.size(Part::Public),
            private_size: split.size(Part::Private),
        },
        baselines,
        baseline_cache: cache,
        students,
    })
}

fn part_name(part: Part) -> &'static str {
    match part {
        Part::Public => "public",
        Part::Private => "private",
    }
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
