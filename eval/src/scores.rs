//! Part of the fourth stage: the `score` section of a report, made from
//! the scorer's verdict: baselines and the student's figures on
//! each part of the test split, per seed and summarized over seeds.
//!
//! Figures on the **public** part are development figures: a submitter sees
//! them only through the report's `feedback`, rounded to 0.01. Figures on
//! the **private** part decide rankings and are never shown to submitters;
//! they are kept at full precision here because ranking and `w2s replay`
//! need them. PGR per seed uses that part's weak accuracy and mean ceiling
//! accuracy; its interval is over student seeds only (the ceiling's own
//! spread is reported next to it).

use serde::Serialize;
use w2s_verdict::{CacheStatus, Part, ScoreSet, SplitInfo, StudentScore};

use crate::stats::Summary;

const PUBLIC_ROLE: &str =
    "development figures: shown to submitters only through `feedback`, rounded to 0.01";
const PRIVATE_ROLE: &str = "ranking figures: decide rankings; never shown to submitters";
const WEAK_NOTE: &str = "deterministic: computed once from the teacher's stored test probabilities; \
n = 1, no seeds and no interval";

/// One seed's student on one part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedScore {
    /// The seed.
    pub seed: u64,
    /// The student's architecture.
    pub arch: String,
    /// Its accuracy on this part.
    pub student_acc: f64,
    /// Its PGR on this part.
    pub pgr: f64,
}

/// The student's figures on one part of the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartReport {
    /// What the part's figures are for, in words.
    pub role: &'static str,
    /// Examples in the part.
    pub size: usize,
    /// The weak teacher's accuracy on it.
    pub weak_acc: f64,
    /// The mean ceiling accuracy on it.
    pub ceiling_acc: f64,
    /// One entry per completed seed, in seed order.
    pub per_seed: Vec<SeedScore>,
    /// Student accuracy over seeds.
    pub student_acc: Option<Summary>,
    /// PGR over seeds.
    pub pgr: Option<Summary>,
    /// Per named subset of the test split (absent when the task has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<SubsetReport>,
}

/// The weak baseline: one deterministic figure per part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeakReport {
    /// Figures per part: 1 (deterministic).
    pub n: usize,
    /// Why there is one figure, in words.
    pub note: &'static str,
    /// On the public part.
    pub public_acc: f64,
    /// On the private part.
    pub private_acc: f64,
}

/// The ceiling on one part: per seed and summarized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CeilingPart {
    /// Accuracy per ceiling seed.
    pub accs: Vec<f64>,
    /// Over seeds.
    pub summary: Option<Summary>,
}

/// The ceiling baseline: the reference recipe on ground truth, under seeds
/// the scorer derives from the task hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CeilingReport {
    /// The reference recipe's id.
    pub recipe: String,
    /// The ceiling seeds.
    pub seeds: Vec<u64>,
    /// On the public part.
    pub public: CeilingPart,
    /// On the private part.
    pub private: CeilingPart,
}

/// Both baselines and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselinesReport {
    /// Whether the cache was hit: the one field of `score` that may differ
    /// between two identical evaluations.
    pub cache: CacheStatus,
    /// The weak baseline.
    pub weak: WeakReport,
    /// The ceiling baseline.
    pub ceiling: CeilingReport,
}

/// The `score` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// The version of the scorer that scored.
    pub scorer_version: String,
    /// The two parts of the test split.
    pub split: SplitInfo,
    /// Both baselines.
    pub baselines: BaselinesReport,
    /// The student on the public part.
    pub public: PartReport,
    /// The student on the private part.
    pub private: PartReport,
}

impl Scores {
    /// The section for the real runs' `students` (seed, verdict) out of the
    /// scorer's `set`.
    pub fn new(set: &ScoreSet, students: &[(u64, &StudentScore)]) -> Self {
        let b = &set.baselines;
        let ceiling = |part: Part| {
            let accs = b.part(part).ceiling_accs.clone();
            CeilingPart {
                summary: Summary::of(&accs),
                accs,
            }
        };
        let part = |part: Part, role: &'static str, size: usize| {
            let per_seed: Vec<SeedScore> = students
                .iter()
                .map(|(seed, s)| SeedScore {
                    seed: *seed,
                    arch: s.arch.clone(),
                    student_acc: s.part(part).student_acc,
                    pgr: s.part(part).pgr,
                })
                .collect();
            let accs: Vec<f64> = per_seed.iter().map(|s| s.student_acc).collect();
            let pgrs: Vec<f64> = per_seed.iter().map(|s| s.pgr).collect();
            PartReport {
                role,
                size,
                weak_acc: b.part(part).weak_acc,
                ceiling_acc: b.part(part).ceiling_acc(),
                student_acc: Summary::of(&accs),
                pgr: Summary::of(&pgrs),
                per_seed,
                subsets: subset_reports(set, students, part),
            }
        };
        Self {
            scorer_version: set.scorer_version.clone(),
            split: set.split.clone(),
            baselines: BaselinesReport {
                cache: set.baseline_cache.clone(),
                weak: WeakReport {
                    n: 1,
                    note: WEAK_NOTE,
                    public_acc: b.public.weak_acc,
                    private_acc: b.private.weak_acc,
                },
                ceiling: CeilingReport {
                    recipe: b.recipe.clone(),
                    seeds: b.ceiling_seeds.clone(),
                    public: ceiling(Part::Public),
                    private: ceiling(Part::Private),
                },
            },
            public: part(Part::Public, PUBLIC_ROLE, set.split.public_size),
            private: part(Part::Private, PRIVATE_ROLE, set.split.private_size),
        }
    }

    /// Mean private PGR, when some seed was scored.
    pub fn private_pgr(&self) -> Option<f64> {
        self.private.pgr.as_ref().map(|s| s.mean)
    }
}

/// One named subset of the test split on one part: its baselines and the
/// student's figures over seeds (see `w2s_scorer::subsets`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubsetReport {
    /// The subset's name.
    pub name: String,
    /// Its examples in this part.
    pub size: usize,
    /// The weak teacher's accuracy on it.
    pub weak_acc: f64,
    /// The mean ceiling accuracy on it.
    pub ceiling_acc: f64,
    /// Student accuracy over seeds.
    pub student_acc: Option<Summary>,
    /// PGR over seeds; `None` when the subset's baselines leave no gap.
    pub pgr: Option<Summary>,
}

fn subset_reports(
    set: &ScoreSet,
    students: &[(u64, &StudentScore)],
    part: Part,
) -> Vec<SubsetReport> {
    set.baselines
        .subsets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let figures: Vec<_> = students
                .iter()
                .filter_map(|(_, s)| s.subsets.get(i))
                .map(|s| s.part(part))
                .collect();
            let accs: Vec<f64> = figures.iter().map(|f| f.student_acc).collect();
            let pgrs: Option<Vec<f64>> = figures.iter().map(|f| f.pgr).collect();
            SubsetReport {
                name: b.name.clone(),
                size: match part {
                    Part::Public => b.public_size,
                    Part::Private => b.private_size,
                },
                weak_acc: b.part(part).weak_acc,
                ceiling_acc: b.part(part).ceiling_acc(),
                student_acc: Summary::of(&accs),
                pgr: pgrs.and_then(|p| Summary::of(&p)),
            }
        })
        .collect()
}
