//! The scorer's verdict, as plain serde types.
//!
//! The scorer (`w2s-scorer`) runs in its own process, `w2s score`, the only
//! process that opens held-out data. It prints one [`ScoreSet`] as JSON on
//! stdout; the evaluation library (`w2s-eval`) starts that process and
//! reads the JSON back. Both sides use the types of this crate, so the
//! format has one definition, and the library never links the scorer (a
//! test checks the crate graph): like extism's `manifest` crate, this one
//! holds data and nothing else, and depends on `serde` alone.
//!
//! Every type rejects unknown fields, so a scorer and a reader of different
//! formats fail loudly instead of dropping a figure.
//!
//! One rule lives here beside the data, because both sides of the process
//! boundary apply it: [`gap`], whether a task's weak-ceiling gap can rank
//! methods (the task card of `w2s task build` and the `small-gap` flag).

pub mod gap;

/// PGR = (student - weak) / (ceiling - weak): the share of the gap between
/// the weak teacher and the ceiling that the student recovered.
pub fn pgr(student: f64, weak: f64, ceiling: f64) -> f64 {
    (student - weak) / (ceiling - weak)
}

use serde::{Deserialize, Serialize};

/// The version of the scorer that writes this format. The scorer and this
/// crate are versioned together with the whole workspace (a test checks
/// that this equals `w2s_scorer::baseline::SCORER_VERSION`); reports record
/// it as `versions.scorer`.
pub const SCORER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which part of the test split an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Development figures: shown to submitters, rounded.
    Public,
    /// Ranking figures: never shown to submitters.
    Private,
}

/// The sizes of the two parts of the test split, and the rule that made
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitInfo {
    /// The split rule, in words (`w2s_scorer::splits::SPLIT_RULE`).
    pub rule: String,
    /// Examples in the public part.
    pub public_size: usize,
    /// Examples in the private part.
    pub private_size: usize,
}

/// A student's figures on one part of the test split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartScore {
    /// Test accuracy, from predictions the scorer computed.
    pub student_acc: f64,
    /// Performance gap recovered against this part's baselines.
    pub pgr: f64,
}

/// One student's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudentScore {
    /// The student's architecture.
    pub arch: String,
    /// On the public part.
    pub public: PartScore,
    /// On the private part.
    pub private: PartScore,
    /// Per named subset of the test split (empty, and absent from the JSON,
    /// when the bundle has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<SubsetScore>,
}

impl StudentScore {
    /// The figures of one part.
    pub fn part(&self, part: Part) -> PartScore {
        match part {
            Part::Public => self.public,
            Part::Private => self.private,
        }
    }
}

/// Weak and ceiling accuracies on one part of the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartBaselines {
    /// The weak teacher's accuracy (deterministic: one figure).
    pub weak_acc: f64,
    /// The ceiling's accuracy, per ceiling seed.
    pub ceiling_accs: Vec<f64>,
}

impl PartBaselines {
    /// Mean ceiling accuracy over seeds.
    pub fn ceiling_acc(&self) -> f64 {
        self.ceiling_accs.iter().sum::<f64>() / self.ceiling_accs.len().max(1) as f64
    }
}

/// Weak and ceiling accuracies on both parts of the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baselines {
    /// The seeds the ceiling was trained under.
    pub ceiling_seeds: Vec<u64>,
    /// The ceiling recipe's id.
    pub recipe: String,
    /// On the public part.
    pub public: PartBaselines,
    /// On the private part.
    pub private: PartBaselines,
    /// Per named subset of the test split (empty, and absent from the JSON,
    /// when the bundle has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<SubsetBaselines>,
}

impl Baselines {
    /// The figures of one part.
    pub fn part(&self, part: Part) -> &PartBaselines {
        match part {
            Part::Public => &self.public,
            Part::Private => &self.private,
        }
    }
}

/// How the baselines were obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CacheStatus {
    /// A valid cache entry was used.
    Hit,
    /// No cache entry existed; computed and stored.
    Miss,
    /// A cache entry existed but was not trusted; recomputed.
    Recomputed {
        /// Why the entry was rejected.
        reason: String,
    },
}

/// The scorer's verdict on a list of students of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSet {
    /// sha256 of the bundle's `task.toml`.
    pub task_hash: String,
    /// The scorer's version.
    pub scorer_version: String,
    /// The two parts of the test split.
    pub split: SplitInfo,
    /// Weak and ceiling accuracies on each part.
    pub baselines: Baselines,
    /// How the baselines were obtained.
    pub baseline_cache: CacheStatus,
    /// One verdict per checkpoint, in the order given.
    pub students: Vec<StudentScore>,
}

/// One subset's baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetBaselines {
    /// The subset's name.
    pub name: String,
    /// Its examples in the public part.
    pub public_size: usize,
    /// Its examples in the private part.
    pub private_size: usize,
    /// On the public part.
    pub public: PartBaselines,
    /// On the private part.
    pub private: PartBaselines,
}

impl SubsetBaselines {
    /// The figures of one part.
    pub fn part(&self, part: Part) -> &PartBaselines {
        match part {
            Part::Public => &self.public,
            Part::Private => &self.private,
        }
    }
}

/// A student's figures on one subset and part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetPartScore {
    /// Accuracy on the subset's examples in this part.
    pub student_acc: f64,
    /// PGR against the subset's baselines; `None` when they leave no gap.
    pub pgr: Option<f64>,
}

/// A student's figures on one subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetScore {
    /// The subset's name.
    pub name: String,
    /// On the public part.
    pub public: SubsetPartScore,
    /// On the private part.
    pub private: SubsetPartScore,
}

impl SubsetScore {
    /// The figures of one part.
    pub fn part(&self, part: Part) -> SubsetPartScore {
        match part {
            Part::Public => self.public,
            Part::Private => self.private,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_set_round_trips_and_refuses_unknown_fields() {
        let json = r#"{"task_hash":"t","scorer_version":"0.1.0","split":{"rule":"r","public_size":2,"private_size":3},"baselines":{"ceiling_seeds":[1],"recipe":"x","public":{"weak_acc":0.5,"ceiling_accs":[0.75,0.25]},"private":{"weak_acc":0.5,"ceiling_accs":[1.0]}},"baseline_cache":{"status":"recomputed","reason":"edited"},"students":[{"arch":"linear","public":{"student_acc":0.6,"pgr":0.2},"private":{"student_acc":0.7,"pgr":0.4}}]}"#;
        let set: ScoreSet = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), json);
        assert_eq!(set.baselines.part(Part::Public).ceiling_acc(), 0.5);
        assert_eq!(set.students[0].part(Part::Private).pgr, 0.4);
        let extra = json.replacen("\"arch\"", "\"surprise\":1,\"arch\"", 1);
        assert!(serde_json::from_str::<ScoreSet>(&extra).is_err());
    }
}
