//! The sixth stage: the evaluation report, as JSON for machines.
//!
//! Everything that shaped a result is in the report: the wasm's sha256, the
//! task hash, the effective policy and its sha256, the seeds and where they
//! came from, the config string, whether controls ran, and the versions of
//! w2s, the scorer, wasmtime and candle. Two fields may differ between
//! identical evaluations, and only they: `timing` (wall-clock times and
//! whether the compiled component came from the cache),
//! `score.baselines.cache` (whether the baseline cache was hit) and
//! `confinement` (the OS layers this machine's kernel allowed).
//! Every other field is identical, bit for bit, for the same wasm, task,
//! policy, config and seeds on CPU; a replay ([`crate::replay`]) checks
//! exactly that.
//!
//! Which figures a submitter may see: `feedback` (coarse public figures,
//! see [`crate::feedback`]). Full-precision figures live only in `score`,
//! whose `private` part decides rankings.

use serde::Serialize;
use w2s_confine::Applied;
use w2s_host::CacheStatus;

use crate::controls::Controls;
use crate::degeneracy::Degeneracy;
use crate::feedback::Feedback;
use crate::flags::{Flag, Rankable};
use crate::policy::PolicyInfo;
use crate::runs::RunEntry;
use crate::scores::Scores;
use crate::seeds::SeedPlan;

/// Version of the report's JSON layout.
pub const REPORT_FORMAT: u32 = 2;
/// The wasmtime version the host is pinned to (checked against Cargo.lock
/// by a test).
pub const WASMTIME_VERSION: &str = "48.0.8";
/// The candle version the primitives are built on (checked likewise).
pub const CANDLE_VERSION: &str = "0.11.1";
/// JSON paths (dot-separated) that may differ between two evaluations of
/// the same submission: wall-clock times, the baseline cache status, and
/// the confinement the machine's kernel allowed.
pub const VOLATILE_PATHS: [&str; 3] = ["timing", "score.baselines.cache", "confinement"];

/// The versions of what made a report.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// w2s itself.
    pub w2s: &'static str,
    /// The scorer.
    pub scorer: &'static str,
    /// wasmtime.
    pub wasmtime: &'static str,
    /// candle.
    pub candle: &'static str,
}

impl Versions {
    /// This build's.
    pub fn current() -> Self {
        Self {
            w2s: env!("CARGO_PKG_VERSION"),
            scorer: w2s_verdict::SCORER_VERSION,
            wasmtime: WASMTIME_VERSION,
            candle: CANDLE_VERSION,
        }
    }
}

/// The submission's component.
#[derive(Debug, Clone, Serialize)]
pub struct WasmInfo {
    /// Its file name.
    pub file: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// The task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    /// Its name.
    pub name: String,
    /// Its hash.
    pub hash: String,
    /// Examples in the pool.
    pub pool: u32,
    /// Classes.
    pub classes: u32,
}

/// What varies between identical evaluations: times, and cache use.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Wall time of loading the component (cache lookup, compiling).
    pub compile_ms: u64,
    /// `null` when the component was refused before compiling.
    pub compile_cache: Option<CacheStatus>,
    /// Wall time of each run.
    pub runs_ms: Vec<u64>,
    /// Wall time of every control run together.
    pub controls_ms: u64,
    /// Wall time of the scorer process.
    pub score_ms: u64,
}

/// The full report of one evaluation.
#[derive(Debug, Serialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub report_format: u32,
    /// What made it.
    pub versions: Versions,
    /// The component.
    pub wasm: WasmInfo,
    /// The task.
    pub task: TaskInfo,
    /// The policy in force.
    pub policy: PolicyInfo,
    /// The seeds.
    pub seeds: SeedPlan,
    /// The config string passed to the strategy.
    pub config: String,
    /// The device the primitives ran on: `cpu` or `cuda:N`.
    pub device: String,
    /// The GPU's name, on a GPU (absent on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// The OS layers the runner process applied under the wasm sandbox
    /// (`w2s-confine`); `null` when no run started (a refused component).
    /// It describes the machine, not the evaluation: volatile.
    pub confinement: Option<Applied>,
    /// Whether a ranking may use it.
    pub rankable: Rankable,
    /// One run per seed.
    pub runs: Vec<RunEntry>,
    /// The scorer's figures (`None` when no run was scored).
    pub score: Option<Scores>,
    /// The degeneracy checks.
    pub degeneracy: Degeneracy,
    /// The controls, when they ran.
    pub controls: Option<Controls>,
    /// What a reviewer must look at.
    pub flags: Vec<Flag>,
    /// What a submitter may see.
    pub feedback: Feedback,
    /// Wall times and cache use (volatile).
    pub timing: Timing,
}

impl Report {
    /// Number of runs that completed.
    pub fn completed(&self) -> usize {
        self.runs.iter().filter(|r| r.outcome.completed()).count()
    }

    /// Whether every run completed and was scored.
    pub fn fully_scored(&self) -> bool {
        self.score.is_some() && self.completed() == self.runs.len()
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
