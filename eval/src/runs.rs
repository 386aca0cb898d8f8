//! The report's record of sandboxed runs: each run's outcome, usage,
//! metrics, output and audit summary.

use serde::Serialize;
use w2s_host::{AuditSummary, CapturedOutput, MetricPoint, Note, Outcome, Usage};

use crate::degeneracy::PoolPredictions;

/// How a run ended, as a report states it.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeInfo {
    /// The outcome's stable code (`completed`, `fuel-exhausted`, ...).
    pub code: &'static str,
    /// The outcome in words.
    pub message: String,
    /// The outcome itself, with its fields.
    pub detail: Outcome,
}

impl OutcomeInfo {
    /// The record of `outcome`.
    pub fn of(outcome: &Outcome) -> Self {
        Self {
            code: outcome.code(),
            message: outcome.message(),
            detail: outcome.clone(),
        }
    }

    /// Whether the run completed.
    pub fn completed(&self) -> bool {
        self.code == "completed"
    }
}

/// A note on a run that is not a failure (output truncated, ...).
#[derive(Debug, Clone, Serialize)]
pub struct NoteInfo {
    /// The note's stable code.
    pub code: &'static str,
    /// The note in words.
    pub message: String,
    /// The note itself, with its fields.
    pub detail: Note,
}

impl NoteInfo {
    /// The record of `note`.
    pub fn of(note: &Note) -> Self {
        Self {
            code: note.code(),
            message: note.message(),
            detail: note.clone(),
        }
    }
}

/// One run of the strategy under one seed.
#[derive(Debug, Clone, Serialize)]
pub struct RunEntry {
    /// The seed it ran under.
    pub seed: u64,
    /// How it ended.
    pub outcome: OutcomeInfo,
    /// What it used of its limits.
    pub usage: Usage,
    /// The metrics the guest logged.
    pub metrics: Vec<MetricPoint>,
    /// Metrics dropped over the policy's limit.
    pub metrics_dropped: u64,
    /// The guest's stdout, bounded.
    pub stdout: CapturedOutput,
    /// The guest's stderr, bounded.
    pub stderr: CapturedOutput,
    /// Notes that are not failures (output truncated, ...).
    pub notes: Vec<NoteInfo>,
    /// What the run's host calls cost (the audit log's summary).
    pub audit: AuditSummary,
    /// The student's class distribution on the pool (completed runs).
    pub pool_predictions: Option<PoolPredictions>,
}

/// Longest excerpt of a guest's own error message in a failure line.
const GUEST_EXCERPT_CHARS: usize = 200;

/// `seed S: CODE: MESSAGE`, and for a guest error the guest's own text,
/// quoted (it is data, never the headline).
pub fn failure_line(run: &RunEntry) -> String {
    let mut line = format!(
        "seed {}: {}: {}",
        run.seed, run.outcome.code, run.outcome.message
    );
    if let Outcome::GuestError { message } = &run.outcome.detail {
        let excerpt: String = message.chars().take(GUEST_EXCERPT_CHARS).collect();
        line.push_str(&format!(" [the guest said: {excerpt:?}]"));
    }
    line
}
