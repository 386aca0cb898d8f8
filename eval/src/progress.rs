//! [`ProgressSink`]: what an evaluation tells its caller while it runs.
//!
//! The library draws nothing and prints nothing; `w2s` turns these calls
//! into progress bars and lines on stderr, and an embedding program may
//! log them or ignore them ([`Quiet`]). Nothing a sink does can change a
//! result.

use w2s_host::Progress;

/// Receives an evaluation's progress. Every method does nothing by default.
pub trait ProgressSink {
    /// A sandboxed run starts. `label` names it (`student 1/5`,
    /// `control-class-prior 2/5`); `budget_flops` is its compute budget.
    fn run_started(&self, label: &str, budget_flops: u64) {
        let _ = (label, budget_flops);
    }

    /// The counters of the run `label` (at most one call per 100 ms: the
    /// sandbox throttles them).
    fn run_progress(&self, label: &str, progress: &Progress) {
        let _ = (label, progress);
    }

    /// The run `label` ended.
    fn run_finished(&self, label: &str) {
        let _ = label;
    }

    /// A step a person may want to see: a task being generated, the next
    /// task of a suite, what a replay verified.
    fn note(&self, text: &str) {
        let _ = text;
    }
}

/// A sink that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl ProgressSink for Quiet {}
