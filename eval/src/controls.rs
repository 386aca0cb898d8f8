//! Part of the fifth stage: controls against a strategy that ignores its
//! teacher (`--controls`).
//!
//! The strategy runs again, under the same seeds, with the weak labels
//! replaced by
//!
//! - **permuted labels**: the teacher's own rows, shuffled across the pool
//!   by a permutation the host draws (from the stream
//!   `"control/permuted-labels"` of the first seed, so it is as
//!   unpredictable as the seeds and recorded in the report); the labels'
//!   distribution is unchanged, their link to the examples is gone;
//! - **class prior**: every row is the mean of the teacher's rows, so the
//!   labels carry the class prior and nothing about any example.
//!
//! The control tasks keep everything else (name, task hash, features,
//! seeds, config): to the guest, a control run differs from the real one
//! only in what the teacher says. They are built in this process from the
//! public part alone ([`PublicTask::with_weak_probs`]).
//!
//! A strategy that learns from its teacher falls to about chance under
//! either control (on the default task vanilla's PGR goes from about 0.37
//! to about -0.9). The verdict compares mean private PGR: a control
//! *drops* when `real - control >= DROP_MARGIN` (0.25, a quarter of the
//! weak-to-ceiling gap); a control that does not drop flags the submission
//! as "does not use the teacher". A control run that does not complete
//! makes its verdict inconclusive, itself a flag: a strategy must not
//! escape the control by failing when it suspects one.

use serde::Serialize;
use w2s_train::bundle::PublicTask;
use w2s_train::rng::{Rng, derive_seed};
use w2s_verdict::PartScore;

use crate::error::{EvalError, Result};
use crate::runs::OutcomeInfo;
use crate::stats::Summary;

/// Smallest drop of mean private PGR, real minus control, for a control to
/// count as having hurt the strategy.
pub const DROP_MARGIN: f64 = 0.25;

/// The rule, as the report states it.
const RULE: &str = "a control drops when mean private PGR (real) - mean private PGR (control) >= drop_margin; \
a control that does not drop flags does-not-use-teacher; a control run that does not complete makes its verdict inconclusive";

/// A replacement for the teacher's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// The teacher's rows, permuted across the pool.
    PermutedLabels,
    /// Every row the mean of the teacher's rows.
    ClassPrior,
}

impl ControlKind {
    /// Every control, in report order.
    pub const ALL: [ControlKind; 2] = [ControlKind::PermutedLabels, ControlKind::ClassPrior];

    /// Short name (file names, table).
    pub fn name(self) -> &'static str {
        match self {
            Self::PermutedLabels => "permuted-labels",
            Self::ClassPrior => "class-prior",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::PermutedLabels => {
                "the teacher's probability rows, permuted across the pool by the host"
            }
            Self::ClassPrior => "every row the mean of the teacher's rows (the class prior)",
        }
    }
}

/// The seed of the permuted-labels control's permutation.
pub fn permutation_seed(seeds: &[u64]) -> u64 {
    derive_seed(
        seeds.first().copied().unwrap_or(0),
        "control/permuted-labels",
    )
}

/// The replaced weak labels of `kind`, row-major.
fn replaced_weak_probs(task: &PublicTask, kind: ControlKind, perm_seed: u64) -> Vec<f32> {
    let (n, k) = (task.pool_size(), task.classes());
    let row = |i: usize| &task.weak_probs[i * k..(i + 1) * k];
    match kind {
        ControlKind::PermutedLabels => {
            let order = Rng::for_stream(perm_seed, "permutation").permutation(n);
            order
                .iter()
                .flat_map(|&i| row(i as usize))
                .copied()
                .collect()
        }
        ControlKind::ClassPrior => {
            let mut mean = vec![0.0f64; k];
            for i in 0..n {
                for (m, &p) in mean.iter_mut().zip(row(i)) {
                    *m += f64::from(p);
                }
            }
            let mean: Vec<f32> = mean.iter().map(|m| (m / n as f64) as f32).collect();
            mean.iter().copied().cycle().take(n * k).collect()
        }
    }
}

/// The control task of `kind`: `task` with its weak labels replaced.
pub fn control_task(task: &PublicTask, kind: ControlKind, perm_seed: u64) -> Result<PublicTask> {
    task.with_weak_probs(replaced_weak_probs(task, kind, perm_seed))
        .map_err(|source| EvalError::Control {
            control: kind.name(),
            source,
        })
}

/// One control run.
#[derive(Debug, Serialize)]
pub struct ControlRun {
    /// The seed it ran under.
    pub seed: u64,
    /// How it ended.
    pub outcome: OutcomeInfo,
    /// What it used of its limits.
    pub usage: w2s_host::Usage,
    /// The student's figures on the public part, when the run completed
    /// and was scored.
    pub public: Option<PartScore>,
    /// Likewise on the private part.
    pub private: Option<PartScore>,
}

/// What a control did to the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Mean private PGR fell by at least the margin.
    Drops,
    /// It did not: the strategy does not need its teacher's labels.
    DoesNotDrop,
    /// A run did not complete or was not scored: no verdict.
    Inconclusive,
}

/// One control, in the report.
#[derive(Debug, Serialize)]
pub struct ControlReport {
    /// What replaced the teacher's labels, in words.
    pub what: &'static str,
    /// One run per seed, in seed order.
    pub runs: Vec<ControlRun>,
    /// PGR on the public part over the scored runs.
    pub public_pgr: Option<Summary>,
    /// PGR on the private part over the scored runs.
    pub private_pgr: Option<Summary>,
    /// Mean private PGR of the real runs minus that of this control.
    pub drop: Option<f64>,
    /// What the control did to the strategy.
    pub verdict: Verdict,
}

impl ControlReport {
    /// Judges `runs` against the real runs' mean private PGR (`None` when
    /// the real runs were not all scored).
    pub fn judge(kind: ControlKind, runs: Vec<ControlRun>, real_private: Option<f64>) -> Self {
        let pgrs = |f: fn(&ControlRun) -> Option<PartScore>| -> Vec<f64> {
            runs.iter().filter_map(|r| f(r).map(|p| p.pgr)).collect()
        };
        let public_pgr = Summary::of(&pgrs(|r| r.public));
        let private_pgr = Summary::of(&pgrs(|r| r.private));
        let complete = !runs.is_empty() && runs.iter().all(|r| r.private.is_some());
        let drop = match (real_private, &private_pgr) {
            (Some(real), Some(control)) if complete => Some(real - control.mean),
            _ => None,
        };
        let verdict = match drop {
            Some(d) if d >= DROP_MARGIN => Verdict::Drops,
            Some(_) => Verdict::DoesNotDrop,
            None => Verdict::Inconclusive,
        };
        Self {
            what: kind.describe(),
            runs,
            public_pgr,
            private_pgr,
            drop,
            verdict,
        }
    }
}

/// The `controls` section of a report.
#[derive(Debug, Serialize)]
pub struct Controls {
    /// The verdict's rule, in words.
    pub rule: &'static str,
    /// [`DROP_MARGIN`].
    pub drop_margin: f64,
    /// The seed of the permuted-labels control's permutation.
    pub permutation_seed: u64,
    /// The permuted-labels control.
    pub permuted_labels: ControlReport,
    /// The class-prior control.
    pub class_prior: ControlReport,
    /// Some control did not drop.
    pub does_not_use_teacher: bool,
    /// Some control has no verdict.
    pub inconclusive: bool,
}

impl Controls {
    /// The section from both controls' reports.
    pub fn new(permutation_seed: u64, permuted: ControlReport, prior: ControlReport) -> Self {
        let verdicts = [permuted.verdict, prior.verdict];
        Self {
            rule: RULE,
            drop_margin: DROP_MARGIN,
            permutation_seed,
            does_not_use_teacher: verdicts.contains(&Verdict::DoesNotDrop),
            inconclusive: verdicts.contains(&Verdict::Inconclusive),
            permuted_labels: permuted,
            class_prior: prior,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> (tempfile::TempDir, PublicTask) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = w2s_train::synth::SynthConfig {
            pool: 64,
            test: 16,
            teacher_train: 64,
            ..w2s_train::synth::SynthConfig::default_task(9)
        };
        w2s_train::synth::generate(&cfg, &dir.path().join("t")).unwrap();
        let t = PublicTask::open(&dir.path().join("t"), &candle_core::Device::Cpu).unwrap();
        (dir, t)
    }

    #[test]
    fn permuted_labels_are_the_same_rows_in_another_order() {
        let (_d, t) = task();
        let k = t.classes();
        let control = control_task(&t, ControlKind::PermutedLabels, 3).unwrap();
        let rows = |p: &[f32]| {
            let mut r: Vec<Vec<u32>> = p
                .chunks(k)
                .map(|c| c.iter().map(|v| v.to_bits()).collect())
                .collect();
            r.sort();
            r
        };
        assert_eq!(rows(&control.weak_probs), rows(&t.weak_probs));
        assert_ne!(control.weak_probs, t.weak_probs);
        let again = control_task(&t, ControlKind::PermutedLabels, 3).unwrap();
        assert_eq!(again.weak_probs, control.weak_probs);
    }

    #[test]
    fn class_prior_rows_are_all_the_mean() {
        let (_d, t) = task();
        let k = t.classes();
        let control = control_task(&t, ControlKind::ClassPrior, 0).unwrap();
        let first = control.weak_probs[..k].to_vec();
        assert!(control.weak_probs.chunks(k).all(|r| r == first.as_slice()));
        for c in 0..k {
            let mean: f64 =
                t.weak_probs.chunks(k).map(|r| f64::from(r[c])).sum::<f64>() / t.pool_size() as f64;
            assert!((f64::from(first[c]) - mean).abs() < 1e-6);
        }
    }

    fn run(pgr: Option<f64>) -> ControlRun {
        let score = pgr.map(|p| PartScore {
            student_acc: 0.0,
            pgr: p,
        });
        ControlRun {
            seed: 1,
            outcome: OutcomeInfo::of(&w2s_host::Outcome::Completed),
            usage: w2s_host::Usage::default(),
            public: score,
            private: score,
        }
    }

    #[test]
    fn verdicts_follow_the_margin() {
        let judge = |runs, real| ControlReport::judge(ControlKind::ClassPrior, runs, real).verdict;
        assert_eq!(
            judge(vec![run(Some(-0.9)), run(Some(-0.8))], Some(0.4)),
            Verdict::Drops
        );
        assert_eq!(
            judge(vec![run(Some(0.3)), run(Some(0.2))], Some(0.4)),
            Verdict::DoesNotDrop
        );
        // The margin itself counts as a drop.
        assert_eq!(judge(vec![run(Some(0.25))], Some(0.5)), Verdict::Drops);
        assert_eq!(
            judge(vec![run(Some(-0.9)), run(None)], Some(0.4)),
            Verdict::Inconclusive
        );
        assert_eq!(judge(vec![run(Some(-0.9))], None), Verdict::Inconclusive);
        assert_eq!(judge(vec![], Some(0.4)), Verdict::Inconclusive);
    }
}
