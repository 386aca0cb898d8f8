//! The `score` section of a report: baselines and the student's figures on
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
use w2s_scorer::baseline::CacheStatus;
use w2s_scorer::score::SplitInfo;
use w2s_scorer::splits::Part;
use w2s_scorer::stats::Summary;
use w2s_scorer::{ScoreSet, StudentScore};

const PUBLIC_ROLE: &str =
    "development figures: shown to submitters only through `feedback`, rounded to 0.01";
const PRIVATE_ROLE: &str = "ranking figures: decide rankings; never shown to submitters";
const WEAK_NOTE: &str = "deterministic: computed once from the teacher's stored test probabilities; \
n = 1, no seeds and no interval";

/// One seed's student on one part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SeedScore {
    pub(crate) seed: u64,
    pub(crate) arch: String,
    pub(crate) student_acc: f64,
    pub(crate) pgr: f64,
}

/// The student's figures on one part of the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PartReport {
    pub(crate) role: &'static str,
    pub(crate) size: usize,
    pub(crate) weak_acc: f64,
    pub(crate) ceiling_acc: f64,
    /// One entry per completed seed, in seed order.
    pub(crate) per_seed: Vec<SeedScore>,
    pub(crate) student_acc: Option<Summary>,
    pub(crate) pgr: Option<Summary>,
    /// Per named subset of the test split (absent when the task has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) subsets: Vec<SubsetReport>,
}

/// The weak baseline: one deterministic figure per part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WeakReport {
    pub(crate) n: usize,
    pub(crate) note: &'static str,
    pub(crate) public_acc: f64,
    pub(crate) private_acc: f64,
}

/// The ceiling on one part: per seed and summarized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CeilingPart {
    pub(crate) accs: Vec<f64>,
    pub(crate) summary: Option<Summary>,
}

/// The ceiling baseline: the reference recipe on ground truth, under seeds
/// the scorer derives from the task hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CeilingReport {
    pub(crate) recipe: String,
    pub(crate) seeds: Vec<u64>,
    pub(crate) public: CeilingPart,
    pub(crate) private: CeilingPart,
}

/// Both baselines and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BaselinesReport {
    /// Whether the cache was hit: the one field of `score` that may differ
    /// between two identical evaluations.
    pub(crate) cache: CacheStatus,
    pub(crate) weak: WeakReport,
    pub(crate) ceiling: CeilingReport,
}

/// The `score` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Scores {
    pub(crate) scorer_version: String,
    pub(crate) split: SplitInfo,
    pub(crate) baselines: BaselinesReport,
    pub(crate) public: PartReport,
    pub(crate) private: PartReport,
}

impl Scores {
    /// The section for the real runs' `students` (seed, verdict) out of the
    /// scorer's `set`.
    pub(crate) fn new(set: &ScoreSet, students: &[(u64, &StudentScore)]) -> Self {
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
    pub(crate) fn private_pgr(&self) -> Option<f64> {
        self.private.pgr.as_ref().map(|s| s.mean)
    }
}

/// One named subset of the test split on one part: its baselines and the
/// student's figures over seeds (see `w2s_scorer::subsets`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SubsetReport {
    pub(crate) name: String,
    pub(crate) size: usize,
    pub(crate) weak_acc: f64,
    pub(crate) ceiling_acc: f64,
    pub(crate) student_acc: Option<Summary>,
    /// `None` when the subset's baselines leave no gap.
    pub(crate) pgr: Option<Summary>,
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
