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
//!   labels carry the class prior and nothing about any example;
//! - **counterfactual teacher**: the teacher with its classes renamed by a
//!   derangement `sigma` the host draws (stream
//!   `"control/counterfactual-teacher"` of the first seed, recorded in the
//!   report): row `i` is the teacher's row `i` with column `sigma(c)`
//!   holding its probability of class `c`. It is the teacher the weak model
//!   would have become, trained on its labeled split with the class names
//!   permuted by `sigma` (up to its initialization). Every statistic of the
//!   features and the labels that does not depend on what the classes
//!   *mean* is the real teacher's: the confidence profile to the bit, the
//!   class counts (renamed), how well a probe on the features follows the
//!   labels. So, unlike the two controls above, a strategy cannot tell it
//!   from the real teacher by looking at the labels; only knowing which
//!   class is which (an oracle, or for a language-model task the label
//!   words' meaning) can.
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
    /// The teacher with its classes renamed by a derangement.
    CounterfactualTeacher,
}

impl ControlKind {
    /// Every control, in report order.
    pub const ALL: [ControlKind; 3] = [
        ControlKind::PermutedLabels,
        ControlKind::ClassPrior,
        ControlKind::CounterfactualTeacher,
    ];

    /// Short name (file names, table).
    pub fn name(self) -> &'static str {
        match self {
            Self::PermutedLabels => "permuted-labels",
            Self::ClassPrior => "class-prior",
            Self::CounterfactualTeacher => "counterfactual-teacher",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::PermutedLabels => {
                "the teacher's probability rows, permuted across the pool by the host"
            }
            Self::ClassPrior => "every row the mean of the teacher's rows (the class prior)",
            Self::CounterfactualTeacher => {
                "the teacher with its classes renamed by a derangement the host draws (class_permutation): what the weak model would have become trained on its labeled split with the class names permuted"
            }
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

/// The seed of the counterfactual teacher's class permutation.
pub fn class_permutation_seed(seeds: &[u64]) -> u64 {
    derive_seed(
        seeds.first().copied().unwrap_or(0),
        "control/counterfactual-teacher",
    )
}

/// The counterfactual teacher's renaming of `classes` classes: a
/// permutation without a fixed point (the swap for two classes), drawn
/// from `seed`; entry `c` is the new name of class `c`.
pub fn class_permutation(classes: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::for_stream(seed, "derangement");
    loop {
        let sigma = rng.permutation(classes);
        if classes < 2 || sigma.iter().enumerate().all(|(c, &s)| s as usize != c) {
            return sigma;
        }
    }
}

/// The control inputs an evaluation draws: the seeds of the permutations.
#[derive(Debug, Clone, Copy)]
pub struct ControlInputs {
    /// [`permutation_seed`].
    pub permutation_seed: u64,
    /// [`class_permutation_seed`].
    pub class_permutation_seed: u64,
}

impl ControlInputs {
    /// The inputs for an evaluation under `seeds`.
    pub fn for_seeds(seeds: &[u64]) -> Self {
        Self {
            permutation_seed: permutation_seed(seeds),
            class_permutation_seed: class_permutation_seed(seeds),
        }
    }
}

/// The replaced weak labels of `kind`, row-major.
fn replaced_weak_probs(task: &PublicTask, kind: ControlKind, inputs: ControlInputs) -> Vec<f32> {
    let (n, k) = (task.pool_size(), task.classes());
    let row = |i: usize| &task.weak_probs[i * k..(i + 1) * k];
    match kind {
        ControlKind::PermutedLabels => {
            let order = Rng::for_stream(inputs.permutation_seed, "permutation").permutation(n);
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
        ControlKind::CounterfactualTeacher => {
            let sigma = class_permutation(k, inputs.class_permutation_seed);
            let mut out = vec![0.0f32; n * k];
            for i in 0..n {
                for (c, &p) in row(i).iter().enumerate() {
                    out[i * k + sigma[c] as usize] = p;
                }
            }
            out
        }
    }
}

/// The control task of `kind`: `task` with its weak labels replaced.
pub fn control_task(
    task: &PublicTask,
    kind: ControlKind,
    inputs: ControlInputs,
) -> Result<PublicTask> {
    task.with_weak_probs(replaced_weak_probs(task, kind, inputs))
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
    /// The counterfactual teacher's renaming of the classes: entry `c` is
    /// the new name of class `c`.
    pub class_permutation: Vec<u32>,
    /// The permuted-labels control.
    pub permuted_labels: ControlReport,
    /// The class-prior control.
    pub class_prior: ControlReport,
    /// The counterfactual-teacher control.
    pub counterfactual_teacher: ControlReport,
    /// Some control did not drop.
    pub does_not_use_teacher: bool,
    /// Some control has no verdict.
    pub inconclusive: bool,
}

impl Controls {
    /// Each control, with its name in words, in report order.
    pub fn each(&self) -> [(&'static str, &ControlReport); 3] {
        [
            ("permuted labels", &self.permuted_labels),
            ("class prior", &self.class_prior),
            ("counterfactual teacher", &self.counterfactual_teacher),
        ]
    }

    /// The section from the three controls' reports, in
    /// [`ControlKind::ALL`] order.
    pub fn new(inputs: ControlInputs, classes: usize, reports: [ControlReport; 3]) -> Self {
        let verdicts: Vec<Verdict> = reports.iter().map(|r| r.verdict).collect();
        let [permuted, prior, counterfactual] = reports;
        Self {
            rule: RULE,
            drop_margin: DROP_MARGIN,
            permutation_seed: inputs.permutation_seed,
            class_permutation: class_permutation(classes, inputs.class_permutation_seed),
            does_not_use_teacher: verdicts.contains(&Verdict::DoesNotDrop),
            inconclusive: verdicts.contains(&Verdict::Inconclusive),
            permuted_labels: permuted,
            class_prior: prior,
            counterfactual_teacher: counterfactual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(seed: u64) -> ControlInputs {
        ControlInputs {
            permutation_seed: seed,
            class_permutation_seed: seed,
        }
    }

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
        let control = control_task(&t, ControlKind::PermutedLabels, inputs(3)).unwrap();
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
        let again = control_task(&t, ControlKind::PermutedLabels, inputs(3)).unwrap();
        assert_eq!(again.weak_probs, control.weak_probs);
    }

    #[test]
    fn class_permutations_have_no_fixed_point() {
        assert_eq!(class_permutation(2, 5), vec![1, 0]);
        for seed in 0..50 {
            for k in 2..7 {
                let sigma = class_permutation(k, seed);
                let mut sorted = sigma.clone();
                sorted.sort();
                assert_eq!(sorted, (0..k as u32).collect::<Vec<_>>());
                assert!(sigma.iter().enumerate().all(|(c, &s)| s as usize != c));
            }
        }
        assert_eq!(class_permutation(4, 9), class_permutation(4, 9));
    }

    /// Agreement of a linear probe on the pool's features, trained on the
    /// first half of the hard labels of `probs`, with the second half.
    fn probe_agreement(task: &PublicTask, probs: &[f32]) -> f64 {
        use w2s_train::recipe;
        let (n, k) = (task.pool_size(), task.classes());
        let labels = recipe::argmax_rows(probs, k);
        let half = n / 2;
        let head = w2s_train::synth::SynthConfig::teacher_recipe()
            .train(
                &task.features.narrow(0, 0, half).unwrap(),
                &recipe::one_hot(&labels[..half], k),
                k,
                1,
                &mut |_, _| {},
            )
            .unwrap();
        let rest = task.features.narrow(0, half, n - half).unwrap();
        recipe::accuracy(
            &recipe::predict_all(&head, &rest, 4096).unwrap(),
            k,
            &labels[half..],
        )
    }

    /// What a guest without an oracle can measure of its labels is the real
    /// teacher's: the confidence profile, the class counts (renamed), and
    /// how well a probe on the features follows them; randomly permuted
    /// rows lose the probe.
    #[test]
    fn the_counterfactual_teacher_looks_like_the_teacher() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = w2s_train::synth::SynthConfig {
            pool: 1600,
            test: 16,
            teacher_train: 400,
            ..w2s_train::synth::SynthConfig::default_task(4)
        };
        w2s_train::synth::generate(&cfg, &dir.path().join("t")).unwrap();
        let t = PublicTask::open(&dir.path().join("t"), &candle_core::Device::Cpu).unwrap();
        let k = t.classes();
        let control = control_task(&t, ControlKind::CounterfactualTeacher, inputs(3)).unwrap();
        let sigma = class_permutation(k, 3);
        let sorted_rows = |p: &[f32]| {
            let mut rows: Vec<Vec<u32>> = p
                .chunks(k)
                .map(|r| {
                    let mut v: Vec<u32> = r.iter().map(|x| x.to_bits()).collect();
                    v.sort();
                    v
                })
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(sorted_rows(&control.weak_probs), sorted_rows(&t.weak_probs));
        for (real, renamed) in t.weak_probs.chunks(k).zip(control.weak_probs.chunks(k)) {
            for c in 0..k {
                assert_eq!(real[c].to_bits(), renamed[sigma[c] as usize].to_bits());
            }
        }
        let shuffled = control_task(&t, ControlKind::PermutedLabels, inputs(3)).unwrap();
        let (real, counter, permuted) = (
            probe_agreement(&t, &t.weak_probs),
            probe_agreement(&t, &control.weak_probs),
            probe_agreement(&t, &shuffled.weak_probs),
        );
        let figures = format!(
            "probe agreement: real teacher {real:.3}, counterfactual {counter:.3}, permuted rows {permuted:.3}"
        );
        assert!((real - counter).abs() < 0.03, "{figures}");
        assert!(permuted < real - 0.15, "{figures}");
        println!("{figures}");
    }

    #[test]
    fn class_prior_rows_are_all_the_mean() {
        let (_d, t) = task();
        let k = t.classes();
        let control = control_task(&t, ControlKind::ClassPrior, inputs(0)).unwrap();
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
