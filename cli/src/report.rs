//! The evaluation report: JSON for machines, a table for people.
//!
//! Everything that shaped a result is in the report: the wasm's sha256, the
//! task hash, the seed and where it came from, the config string, the
//! effective policy and its sha256, and the versions of w2s, wasmtime and
//! candle. Wall-clock times and whether the compiled code came from the
//! cache live under `timing` alone: every other field is identical, bit for
//! bit, for the same wasm, task, policy and seed on CPU.

use std::path::Path;

use serde::Serialize;
use w2s_host::{
    AuditSummary, CacheStatus, CapturedOutput, MetricPoint, Note, Outcome, RunReport, Usage,
};
use w2s_scorer::ScoreReport;
use w2s_train::bundle::PublicTask;

use crate::compile_cmd::Loaded;
use crate::policy_cmd::PolicyInfo;

/// Version of the report's JSON layout.
pub(crate) const REPORT_FORMAT: u32 = 1;
/// The wasmtime version the host is pinned to (checked against Cargo.lock
/// by a test).
pub(crate) const WASMTIME_VERSION: &str = "48.0.8";
/// The candle version the primitives are built on (checked likewise).
pub(crate) const CANDLE_VERSION: &str = "0.11.1";

#[derive(Serialize)]
pub(crate) struct Versions {
    pub(crate) w2s: &'static str,
    pub(crate) wasmtime: &'static str,
    pub(crate) candle: &'static str,
}

impl Versions {
    pub(crate) fn current() -> Self {
        Self {
            w2s: env!("CARGO_PKG_VERSION"),
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

#[derive(Serialize)]
pub(crate) struct OutcomeInfo {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) detail: Outcome,
}

#[derive(Serialize)]
pub(crate) struct NoteInfo {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) detail: Note,
}

/// What varies between identical runs: times, and cache use.
#[derive(Serialize)]
pub(crate) struct Timing {
    pub(crate) compile_ms: u64,
    /// `null` when the component was refused before compiling.
    pub(crate) compile_cache: Option<CacheStatus>,
    pub(crate) run_ms: u64,
    pub(crate) score_ms: u64,
}

/// What a report needs besides the run and the score.
pub(crate) struct RunFacts<'a> {
    pub(crate) wasm_path: &'a Path,
    pub(crate) wasm_bytes: u64,
    pub(crate) task: &'a PublicTask,
    pub(crate) seed_source: &'static str,
    pub(crate) config: &'a str,
    pub(crate) policy: &'a PolicyInfo,
    pub(crate) loaded: Option<&'a Loaded>,
}

/// The full report of one evaluation.
#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) report_format: u32,
    pub(crate) versions: Versions,
    pub(crate) wasm: WasmInfo,
    pub(crate) task: TaskInfo,
    pub(crate) seed: u64,
    pub(crate) seed_source: &'static str,
    pub(crate) config: String,
    pub(crate) device: String,
    pub(crate) policy: PolicyInfo,
    pub(crate) outcome: OutcomeInfo,
    pub(crate) notes: Vec<NoteInfo>,
    pub(crate) usage: Usage,
    pub(crate) audit: AuditSummary,
    pub(crate) metrics: Vec<MetricPoint>,
    pub(crate) metrics_dropped: u64,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    pub(crate) score: Option<ScoreReport>,
    pub(crate) timing: Timing,
}

fn gflop(flops: u64) -> String {
    format!("{:.2} GFLOP", flops as f64 / 1e9)
}

impl Report {
    /// The report of one run.
    pub(crate) fn build(
        f: RunFacts<'_>,
        run: RunReport,
        score: Option<ScoreReport>,
        score_ms: u64,
    ) -> Self {
        let m = &f.task.manifest;
        Report {
            report_format: REPORT_FORMAT,
            versions: Versions::current(),
            wasm: WasmInfo {
                file: f
                    .wasm_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: run.wasm_sha256.clone(),
                bytes: f.wasm_bytes,
            },
            task: TaskInfo {
                name: m.name.clone(),
                hash: f.task.task_hash.clone(),
                pool: m.splits.pool,
                classes: m.classes,
            },
            seed: run.seed,
            seed_source: f.seed_source,
            config: f.config.to_owned(),
            device: "cpu".to_owned(),
            policy: f.policy.clone(),
            outcome: OutcomeInfo {
                code: run.outcome.code(),
                message: run.outcome.message(),
                detail: run.outcome.clone(),
            },
            notes: run
                .notes
                .iter()
                .map(|n| NoteInfo {
                    code: n.code(),
                    message: n.message(),
                    detail: n.clone(),
                })
                .collect(),
            timing: Timing {
                compile_ms: f.loaded.map_or(0, |l| l.compile_ms),
                compile_cache: f.loaded.map(|l| l.cache.clone()),
                run_ms: run.usage.wall_time.as_millis() as u64,
                score_ms,
            },
            usage: run.usage,
            audit: run.audit,
            metrics: run.metrics,
            metrics_dropped: run.metrics_dropped,
            stdout: run.stdout,
            stderr: run.stderr,
            score,
        }
    }

    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &self.score {
            rows.push(("weak_acc", format!("{:.4}", s.weak_acc)));
            rows.push((
                "ceiling_acc",
                format!(
                    "{:.4}  (mean of {} seeds, cache: {})",
                    s.ceiling_acc,
                    s.ceiling_accs.len(),
                    cache_word(s)
                ),
            ));
            rows.push((
                "student_acc",
                format!("{:.4}  ({})", s.student_acc, s.student_arch),
            ));
            rows.push(("PGR", format!("{:.4}", s.pgr)));
        } else {
            rows.push(("PGR", "not scored (the run did not complete)".to_owned()));
        }
        rows.push((
            "outcome",
            format!("{}: {}", self.outcome.code, self.outcome.message),
        ));
        rows.push((
            "fuel used",
            format!("{} instructions", self.usage.fuel_consumed),
        ));
        rows.push((
            "compute used",
            format!(
                "{} in {} train steps, {} host calls",
                gflop(self.usage.flops),
                self.usage.train_steps,
                self.usage.host_calls
            ),
        ));
        rows.push((
            "wall time",
            format!(
                "run {:.2} s, score {:.2} s",
                self.timing.run_ms as f64 / 1e3,
                self.timing.score_ms as f64 / 1e3
            ),
        ));
        rows.push(("seed", format!("{} ({})", self.seed, self.seed_source)));
        rows.push((
            "wasm",
            format!("{} sha256:{}", self.wasm.file, self.wasm.sha256),
        ));
        rows.push((
            "task",
            format!("{} sha256:{}", self.task.name, self.task.hash),
        ));
        rows.push((
            "policy",
            format!("{} sha256:{}", self.policy.source, self.policy.sha256),
        ));
        for note in &self.notes {
            rows.push(("note", format!("{}: {}", note.code, note.message)));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k:>width$}  {v}\n"));
        }
        out
    }
}

fn cache_word(s: &ScoreReport) -> &'static str {
    match s.baseline_cache {
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
}
