//! Scoring student checkpoints: every student of one evaluation (all its
//! seeds, and its control runs) in one call, so the held-out data is
//! verified and the baselines are loaded once.

use std::path::Path;

use candle_core::Device;
use w2s_train::{checkpoint, recipe};

use crate::baseline::{self, SCORER_VERSION};
use crate::error::ScorerError;
use crate::heldout::Heldout;
use crate::lora::LoraHeldout;
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
    let lora_count = checkpoints
        .iter()
        .filter(|b| checkpoint::is_lora(b))
        .count();
    if lora_count > 0 {
        if lora_count != checkpoints.len() {
            return Err(ScorerError::CheckpointMismatch(
                "heads and lm-lora students in one evaluation".to_owned(),
            ));
        }
        return score_lora(dir, &h, checkpoints, on_ceiling_step);
    }
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
    let mut predictions = Vec::with_capacity(heads.len());
    for head in &heads {
        let probs = recipe::predict_all(head, &h.test_features, 4096)?;
        predictions.push((
            head.arch().describe(),
            recipe::argmax_rows(&probs, h.classes()),
        ));
    }
    assemble(&h, &split, baselines, cache, predictions)
}

/// `lm-lora` students: the strong model loaded once, each adapter set
/// scored on the tokenized test split; the ceiling is the task's LoRA
/// recipe on ground truth.
fn score_lora(
    dir: &Path,
    h: &Heldout,
    checkpoints: &[Vec<u8>],
    on_ceiling_step: &mut dyn FnMut(u64, u64),
) -> Result<ScoreSet, ScorerError> {
    let lm = LoraHeldout::open(dir, h, &Device::Cpu)?;
    let students = checkpoints
        .iter()
        .map(|b| lm.student(b))
        .collect::<Result<Vec<_>, _>>()?;
    let split = TestSplit::new(&h.task_hash, h.test_labels.len());
    let (baselines, cache) = baseline::load_or_compute_lora(dir, h, &lm, &split, on_ceiling_step)?;
    let mut predictions = Vec::with_capacity(students.len());
    for s in &students {
        predictions.push((s.spec().describe(), lm.predict(s)?));
    }
    assemble(h, &split, baselines, cache, predictions)
}

/// The score set from the baselines and each student's (name, test
/// predictions).
fn assemble(
    h: &Heldout,
    split: &TestSplit,
    baselines: w2s_verdict::Baselines,
    cache: w2s_verdict::CacheStatus,
    predictions: Vec<(String, Vec<u32>)>,
) -> Result<ScoreSet, ScorerError> {
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
    let mut students = Vec::with_capacity(predictions.len());
    for (arch, predicted) in predictions {
        let figures = |part: Part| {
            let b = baselines.part(part);
            let student_acc = split.accuracy(part, &predicted, &h.test_labels);
            PartScore {
                student_acc,
                pgr: pgr(student_acc, b.weak_acc, b.ceiling_acc()),
            }
        };
        students.push(StudentScore {
            arch,
            public: figures(Part::Public),
            private: figures(Part::Private),
            subsets: match &h.test_subsets {
                Some(s) => {
                    subsets::scores(split, s, &baselines.subsets, &predicted, &h.test_labels)
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

pub use w2s_verdict::pgr;

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
