//! Part of the sixth stage: feedback, what a submitter may see of an
//! evaluation.
//!
//! Only figures from the public part of the test split, and only PGR,
//! rounded to 0.01: never a student accuracy, never a count of correct
//! answers, never a private figure. `w2s eval --feedback-only` prints just
//! this; the report's `feedback` section holds the same as data.
//!
//! Why so coarse: an oracle that returns exact scores leaks the labels it
//! scores against. With exact counts, flipping the answer on one example
//! and watching the count move by one reveals that example's label, and a
//! search over small perturbations climbs the test set itself (Blum and
//! Hardt, "The Ladder: a reliable leaderboard for machine learning
//! competitions", ICML 2015). Here a submitter does not even choose test
//! answers (the scorer computes them from the returned student, on features
//! the guest never sees), and one step of 0.01 PGR is several test examples
//! (about 5 on the default task's public part), so a single flipped answer
//! is invisible. Whatever a submitter still learns by probing the public
//! figure does not transfer to the private part, which alone ranks.

use serde::Serialize;

use crate::flags::Flag;
use crate::runs::{RunEntry, failure_line};
use crate::scores::Scores;
use crate::stats::round2;

const NOTE: &str = "coarse public figures: PGR on the public test part, mean over seeds and \
its 95% interval, rounded to 0.01; all a submitter sees";

/// The `feedback` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    /// What these figures are, in words.
    pub note: &'static str,
    /// The figures' resolution: 0.01.
    pub resolution: f64,
    /// Runs (one per seed).
    pub seeds: usize,
    /// Runs that completed.
    pub completed: usize,
    /// The outcome code of each run, in seed order.
    pub outcomes: Vec<&'static str>,
    /// The first failed run's outcome (with the guest's own text, quoted,
    /// for a guest error), so a submitter can fix it.
    pub first_failure: Option<String>,
    /// Mean PGR on the public part, rounded.
    pub public_pgr: Option<f64>,
    /// Its 95% interval, rounded.
    pub public_pgr_ci95: Option<[f64; 2]>,
    /// The flags' codes.
    pub flags: Vec<&'static str>,
    /// Whether a ranking may use the evaluation.
    pub rankable: bool,
}

impl Feedback {
    /// The section for an evaluation's runs, score and flags.
    pub fn new(runs: &[RunEntry], score: Option<&Scores>, flags: &[Flag], rankable: bool) -> Self {
        let pgr = score.and_then(|s| s.public.pgr.as_ref());
        let failed = runs.iter().find(|r| r.outcome.code != "completed");
        Self {
            note: NOTE,
            resolution: 0.01,
            seeds: runs.len(),
            completed: runs
                .iter()
                .filter(|r| r.outcome.code == "completed")
                .count(),
            outcomes: runs.iter().map(|r| r.outcome.code).collect(),
            first_failure: failed.map(failure_line),
            public_pgr: pgr.map(|s| round2(s.mean)),
            public_pgr_ci95: pgr
                .and_then(|s| s.ci95)
                .map(|[lo, hi]| [round2(lo), round2(hi)]),
            flags: flags.iter().map(|f| f.code).collect(),
            rankable,
        }
    }
}
