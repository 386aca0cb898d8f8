//! The evaluation report: JSON for machines, a table for people.
//!
//! Everything that shaped a result is in the report: the wasm's sha256, the
//! task hash, the effective policy and its sha256, the seeds and where they
//! came from, the config string, whether controls ran, and the versions of
//! w2s, the scorer, wasmtime and candle. Two fields may differ between
//! identical evaluations, and only they: `timing` (wall-clock times and
//! whether the compiled component came from the cache) and
//! `score.baselines.cache` (whether the baseline cache was hit).
//! Every other field is identical, bit for bit, for the same wasm, task,
//! policy, config and seeds on CPU; `w2s replay` checks exactly that.
//!
//! Which figures a submitter may see: `feedback` (coarse public figures,
//! see [`crate::feedback`]). The human table rounds every accuracy and PGR
//! to 0.01 as well. Full-precision figures live only in `score`, whose
//! `private` part decides rankings.

use serde::Serialize;
use w2s_host::{AuditSummary, CacheStatus, CapturedOutput, MetricPoint, Note, Outcome, Usage};

use crate::controls::{Controls, Verdict};
use crate::degeneracy::{Degeneracy, PoolPredictions};
use crate::feedback::Feedback;
use crate::flags::{Flag, Rankable};
use crate::scores::Scores;
use crate::seeds::{SeedPlan, SeedSource};

/// Version of the report's JSON layout.
pub(crate) const REPORT_FORMAT: u32 = 2;
/// The wasmtime version the host is pinned to (checked against Cargo.lock
/// by a test).
pub(crate) const WASMTIME_VERSION: &str = "48.0.8";
/// The candle version the primitives are built on (checked likewise).
pub(crate) const CANDLE_VERSION: &str = "0.11.1";
/// JSON paths (dot-separated) that may differ between two evaluations of
/// the same submission: wall-clock times and the baseline cache status.
pub(crate) const VOLATILE_PATHS: [&str; 2] = ["timing", "score.baselines.cache"];

#[derive(Serialize)]
pub(crate) struct Versions {
    pub(crate) w2s: &'static str,
    pub(crate) scorer: &'static str,
    pub(crate) wasmtime: &'static str,
    pub(crate) candle: &'static str,
}

impl Versions {
    pub(crate) fn current() -> Self {
        Self {
            w2s: env!("CARGO_PKG_VERSION"),
            scorer: w2s_scorer::baseline::SCORER_VERSION,
            wasmtime: WASMTIME_VERSION,
            candle: CANDLE_VERSION,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct WasmInfo {
    pub(crate) file: String,
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
}

#[derive(Serialize)]
pub(crate) struct TaskInfo {
    pub(crate) name: String,
    pub(crate) hash: String,
    pub(crate) pool: u32,
    pub(crate) classes: u32,
}

pub(crate) use crate::policy_cmd::PolicyInfo;

#[derive(Serialize)]
pub(crate) struct OutcomeInfo {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) detail: Outcome,
}

impl OutcomeInfo {
    pub(crate) fn of(outcome: &Outcome) -> Self {
        Self {
            code: outcome.code(),
            message: outcome.message(),
            detail: outcome.clone(),
        }
    }
}

/// One run of the strategy under one seed.
#[derive(Serialize)]
pub(crate) struct RunEntry {
    pub(crate) seed: u64,
    pub(crate) outcome: OutcomeInfo,
    pub(crate) usage: Usage,
    pub(crate) metrics: Vec<MetricPoint>,
    pub(crate) metrics_dropped: u64,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    /// Notes that are not failures (output truncated, ...).
    pub(crate) notes: Vec<NoteInfo>,
    /// What the run's host calls cost (the audit log's summary).
    pub(crate) audit: AuditSummary,
    /// The student's class distribution on the pool (completed runs).
    pub(crate) pool_predictions: Option<PoolPredictions>,
}

#[derive(Serialize)]
pub(crate) struct NoteInfo {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) detail: Note,
}

impl NoteInfo {
    pub(crate) fn of(note: &Note) -> Self {
        Self {
            code: note.code(),
            message: note.message(),
            detail: note.clone(),
        }
    }
}

/// What varies between identical evaluations: times, and cache use.
#[derive(Serialize)]
pub(crate) struct Timing {
    pub(crate) compile_ms: u64,
    /// `null` when the component was refused before compiling.
    pub(crate) compile_cache: Option<CacheStatus>,
    pub(crate) runs_ms: Vec<u64>,
    pub(crate) controls_ms: u64,
    pub(crate) score_ms: u64,
}

/// The full report of one evaluation.
#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) report_format: u32,
    pub(crate) versions: Versions,
    pub(crate) wasm: WasmInfo,
    pub(crate) task: TaskInfo,
    pub(crate) policy: PolicyInfo,
    pub(crate) seeds: SeedPlan,
    pub(crate) config: String,
    pub(crate) device: String,
    /// The GPU's name, on a GPU (absent on the CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gpu: Option<String>,
    pub(crate) rankable: Rankable,
    pub(crate) runs: Vec<RunEntry>,
    pub(crate) score: Option<Scores>,
    pub(crate) degeneracy: Degeneracy,
    pub(crate) controls: Option<Controls>,
    pub(crate) flags: Vec<Flag>,
    pub(crate) feedback: Feedback,
    pub(crate) timing: Timing,
}

fn gflop(flops: u64) -> String {
    format!("{:.2} GFLOP", flops as f64 / 1e9)
}

/// A figure at the resolution people see: two decimals.
pub(crate) fn coarse(x: f64) -> String {
    format!("{:.2}", w2s_scorer::stats::round2(x))
}

/// `0.38  95% CI [0.36, 0.40]`, or `0.38 (one seed: no interval)`.
pub(crate) fn coarse_summary(s: &w2s_scorer::stats::Summary) -> String {
    match s.ci95 {
        Some([lo, hi]) => format!(
            "{}  95% CI [{}, {}]",
            coarse(s.mean),
            coarse(lo),
            coarse(hi)
        ),
        None => format!("{} (one seed: no interval)", coarse(s.mean)),
    }
}

impl Report {
    /// Number of runs that completed.
    pub(crate) fn completed(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.outcome.code == "completed")
            .count()
    }

    /// Whether every run completed and was scored.
    pub(crate) fn fully_scored(&self) -> bool {
        self.score.is_some() && self.completed() == self.runs.len()
    }

    /// The evaluator's table. Every accuracy and PGR is rounded to 0.01;
    /// exact figures are only in the JSON report.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = Vec::new();
        let n = self.seeds.values.len();
        let source = match self.seeds.source {
            SeedSource::Secret => format!(
                "{n}, host-chosen (secret sha256:{})",
                self.seeds
                    .secret_commitment
                    .as_deref()
                    .map_or("?", |c| &c[..c.len().min(16)])
            ),
            SeedSource::Flag => format!("{n}, given with --seed"),
        };
        rows.push(("seeds", source));
        if let Some(s) = &self.score {
            let b = &s.baselines;
            rows.push((
                "weak_acc",
                format!(
                    "public {}, private {}  (deterministic: n = 1)",
                    coarse(b.weak.public_acc),
                    coarse(b.weak.private_acc)
                ),
            ));
            rows.push((
                "ceiling_acc",
                format!(
                    "public {}, private {}  (mean of {} seeds, cache: {})",
                    coarse(s.public.ceiling_acc),
                    coarse(s.private.ceiling_acc),
                    b.ceiling.seeds.len(),
                    cache_word(&b.cache)
                ),
            ));
            if let (Some(pa), Some(pr)) = (&s.public.student_acc, &s.private.student_acc) {
                let arch = s.public.per_seed.first().map_or("", |x| x.arch.as_str());
                rows.push((
                    "student_acc",
                    format!(
                        "public {}, private {}  (mean of {} seeds, {arch})",
                        coarse(pa.mean),
                        coarse(pr.mean),
                        pa.n
                    ),
                ));
            }
            if let Some(p) = &s.public.pgr {
                rows.push((
                    "public PGR",
                    format!("{}  (development)", coarse_summary(p)),
                ));
            }
            if let Some(p) = &s.private.pgr {
                rows.push(("private PGR", format!("{}  (ranking)", coarse_summary(p))));
            }
        } else {
            rows.push(("PGR", "not scored (no run completed)".to_owned()));
        }
        if let Some(c) = &self.controls {
            rows.push(("controls", controls_line(c)));
        }
        rows.push(("flags", flags_line(&self.flags)));
        rows.push((
            "rankable",
            if self.rankable.value {
                "yes".to_owned()
            } else {
                format!("no: {}", self.rankable.reasons.join("; "))
            },
        ));
        rows.push(("runs", runs_line(&self.runs)));
        let fuel: u64 = self.runs.iter().map(|r| r.usage.fuel_consumed).sum();
        let flops: u64 = self.runs.iter().map(|r| r.usage.flops).sum();
        let steps: u64 = self.runs.iter().map(|r| r.usage.train_steps).sum();
        rows.push(("fuel used", format!("{fuel} instructions (all seeds)")));
        rows.push((
            "compute used",
            format!("{} in {steps} train steps (all seeds)", gflop(flops)),
        ));
        let runs_ms: u64 = self.timing.runs_ms.iter().sum();
        rows.push((
            "wall time",
            format!(
                "runs {:.2} s, controls {:.2} s, score {:.2} s",
                runs_ms as f64 / 1e3,
                self.timing.controls_ms as f64 / 1e3,
                self.timing.score_ms as f64 / 1e3
            ),
        ));
        rows.push((
            "wasm",
            format!("{} sha256:{}", self.wasm.file, self.wasm.sha256),
        ));
        rows.push((
            "task",
            format!("{} sha256:{}", self.task.name, self.task.hash),
        ));
        rows.push(("policy", format!("sha256:{}", self.policy.sha256)));
        for run in &self.runs {
            for (name, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                if out.dropped_bytes > 0 {
                    rows.push((
                        name,
                        format!(
                            "seed {}: kept {} bytes, dropped {} (over the limit)",
                            run.seed,
                            out.kept.len(),
                            out.dropped_bytes
                        ),
                    ));
                }
            }
        }
        format_rows(&rows)
    }
}

/// Right-aligned keys, two spaces, values.
pub(crate) fn format_rows(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:>width$}  {v}\n"));
    }
    out
}

/// Longest excerpt of a guest's own error message shown in a table.
const GUEST_EXCERPT_CHARS: usize = 200;

/// `seed S: CODE: MESSAGE`, and for a guest error the guest's own text,
/// quoted (it is data, never the headline).
pub(crate) fn failure_line(run: &RunEntry) -> String {
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

/// `5/5 completed`, or with the first failure.
pub(crate) fn runs_line(runs: &[RunEntry]) -> String {
    let done = runs
        .iter()
        .filter(|r| r.outcome.code == "completed")
        .count();
    let mut line = format!("{done}/{} completed", runs.len());
    if let Some(failed) = runs.iter().find(|r| r.outcome.code != "completed") {
        line.push_str("; ");
        line.push_str(&failure_line(failed));
    }
    line
}

/// The flags' codes, or `none`.
pub(crate) fn flags_line(flags: &[Flag]) -> String {
    if flags.is_empty() {
        "none".to_owned()
    } else {
        flags.iter().map(|f| f.code).collect::<Vec<_>>().join(", ")
    }
}

fn controls_line(c: &Controls) -> String {
    let one = |name: &str, r: &crate::controls::ControlReport| {
        let pgr = r
            .private_pgr
            .as_ref()
            .map_or("-".to_owned(), |s| coarse(s.mean));
        let verdict = match r.verdict {
            Verdict::Drops => format!("drops {}", r.drop.map_or("-".to_owned(), coarse)),
            Verdict::DoesNotDrop => format!(
                "DOES NOT DROP ({} < {})",
                r.drop.map_or("-".to_owned(), coarse),
                coarse(c.drop_margin)
            ),
            Verdict::Inconclusive => "inconclusive".to_owned(),
        };
        format!("{name}: private PGR {pgr}, {verdict}")
    };
    format!(
        "{}; {}",
        one("permuted labels", &c.permuted_labels),
        one("class prior", &c.class_prior)
    )
}

fn cache_word(s: &w2s_scorer::baseline::CacheStatus) -> &'static str {
    match s {
        w2s_scorer::baseline::CacheStatus::Hit => "hit",
        w2s_scorer::baseline::CacheStatus::Miss => "computed",
        w2s_scorer::baseline::CacheStatus::Recomputed { .. } => "recomputed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked_version(name: &str) -> String {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let needle = format!("name = \"{name}\"\nversion = \"");
        let start = lock
            .find(&needle)
            .unwrap_or_else(|| panic!("{name} not in Cargo.lock"))
            + needle.len();
        lock[start..].split('"').next().unwrap().to_owned()
    }

    #[test]
    fn reported_versions_match_the_lock_file() {
        assert_eq!(locked_version("wasmtime"), WASMTIME_VERSION);
        assert_eq!(locked_version("candle-core"), CANDLE_VERSION);
    }

    #[test]
    fn coarse_figures_have_two_decimals() {
        assert_eq!(coarse(0.378412), "0.38");
        assert_eq!(coarse(-0.8849), "-0.88");
        let s = w2s_scorer::stats::Summary::of(&[0.3, 0.4]).unwrap();
        assert!(
            coarse_summary(&s).starts_with("0.35  95% CI ["),
            "{}",
            coarse_summary(&s)
        );
    }
}
