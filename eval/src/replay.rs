//! Replay (`w2s replay`): run an evaluation again from its report and
//! compare the two, bit for bit.
//!
//! The replay refuses to start unless the wasm's sha256, the task hash and
//! the policy hash are those of the report, naming which differs. It then
//! runs the same evaluation (the report's seeds, config and controls, the
//! same limits) and compares the new report with the old one field by
//! field, in document order, except the volatile fields
//! ([`VOLATILE_PATHS`]: wall-clock times and the baseline cache status).
//! Numbers are compared by their JSON text, which for an `f64` is its
//! shortest round-trip form: equal text is equal bits. The first differing
//! field is named by its JSON path ([`first_difference`]).
//!
//! The replay runs on the device the report records (`device`). A CPU
//! report is compared bit for bit; a GPU report's floating-point fields
//! are compared within [`GPU_TOLERANCE`] (integers, strings and everything
//! else still exactly), because a GPU's products are reproducible only on
//! the same GPU model and library versions (docs/DEVICES.md).
//!
//! When the evaluator's secret is at hand, the report's seeds are also
//! checked against it: a report whose seeds are not those its secret
//! derives for this wasm and task was edited, and the replay refuses it.
//!
//! A suite report (`w2s eval --suite --json`) is replayed task by task: each
//! task is regenerated from the generator config the report records (when
//! it is not in the suite directory already), checked against the task
//! hash, evaluated again, and the whole suite report compared. A suite
//! whose tasks were generated under seeds derived from the evaluator's
//! secret (`task_seeds = "secret"`) needs that secret to be regenerated:
//! without it, or with another one, the replay refuses to start.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::error::{EvalError, Result};
use crate::evaluation::Evaluation;
use crate::executable::Executable;
use crate::options::Options;
use crate::policy::PolicyInfo;
use crate::progress::ProgressSink;
use crate::report::{REPORT_FORMAT, Report, VOLATILE_PATHS};
use crate::seeds::{Secret, SeedPlan, SeedSource};
use crate::submission::Submission;
use crate::suite::{Suite, SuiteReport, TaskSeeds};
use crate::task::Task;
use w2s_train::device::DeviceSpec;

/// Largest absolute difference allowed between a floating-point field of a
/// GPU report and its replay: a few predictions of a test split of
/// thousands (one flipped prediction moves an accuracy by 1/N and the PGR
/// by about 1/(N * gap)), far below what a different strategy moves.
pub const GPU_TOLERANCE: f64 = 5e-3;

/// What to replay, and with what.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// The report to reproduce (written by `w2s eval --json`).
    pub report: PathBuf,
    /// The strategy the report is about.
    pub wasm: PathBuf,
    /// The task bundle of a one-task report.
    pub task: PathBuf,
    /// The evaluator's secret, to verify the report's seeds (when it
    /// exists; never created by a replay).
    pub secret_file: PathBuf,
    /// Where a suite report's tasks are (regenerated when missing)
    /// [`None`: the suite's default directory].
    pub suite_dir: Option<PathBuf>,
    /// The policy to replay under [`None`: the one embedded in the report,
    /// when it validates to the same hash; else the built-in one].
    pub policy: Option<PathBuf>,
    /// Directory of compiled components.
    pub cache_dir: PathBuf,
}

/// A report and its replay, both as JSON.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The report as read.
    pub original: Value,
    /// The replay's report.
    pub replayed: Value,
}

impl Replayed {
    /// The tolerance the two are compared with: 0 (bit for bit) for a CPU
    /// report, [`GPU_TOLERANCE`] for a GPU one (a suite report: its first
    /// task's device).
    pub fn tolerance(&self) -> f64 {
        let on_gpu = self
            .original
            .get("device")
            .or_else(|| self.original.pointer("/reports/0/device"))
            .and_then(Value::as_str)
            .is_some_and(|d| w2s_train::device::parse_device(d).is_ok_and(|d| d.is_gpu()));
        if on_gpu { GPU_TOLERANCE } else { 0.0 }
    }

    /// The first difference, under [`Replayed::tolerance`].
    pub fn first_difference(&self) -> Option<String> {
        first_difference(&self.original, &self.replayed, self.tolerance())
    }
}

#[derive(Deserialize)]
struct RecordedWasm {
    file: String,
    sha256: String,
}

#[derive(Deserialize)]
struct RecordedHash {
    hash: String,
}

#[derive(Deserialize)]
struct RecordedPolicy {
    sha256: String,
    effective: Value,
}

/// The policy to replay `recorded` under: `--policy`, else the policy the
/// report embeds (re-validated, and only if it hashes the same), else the
/// built-in one. A mismatch is caught by [`check_submission`].
fn replay_policy(path: Option<&Path>, recorded: &RecordedPolicy) -> Result<PolicyInfo> {
    if path.is_some() {
        return PolicyInfo::effective(path);
    }
    let embedded = serde_json::from_value::<w2s_policy::PolicyFile>(recorded.effective.clone())
        .ok()
        .and_then(|file| w2s_policy::Policy::try_from(file).ok())
        .filter(|p| p.sha256() == recorded.sha256);
    Ok(match embedded {
        Some(policy) => PolicyInfo::of("embedded in the report".to_owned(), policy),
        None => PolicyInfo::effective(None)?,
    })
}

/// What a replay needs from a report.
#[derive(Deserialize)]
struct Recorded {
    report_format: u32,
    wasm: RecordedWasm,
    task: RecordedHash,
    policy: RecordedPolicy,
    seeds: SeedPlan,
    config: String,
    controls: Option<IgnoredAny>,
    device: DeviceSpec,
}

/// Checks the report's seeds against the evaluator's secret, when it is at
/// hand. Returns what was verified, in words; fails on seeds that the
/// committed secret does not derive.
fn verify_seeds(
    plan: &SeedPlan,
    secret: &Path,
    wasm_sha256: &str,
    task_hash: &str,
) -> Result<String> {
    if plan.source == SeedSource::Flag {
        return Ok("seeds were given with --seed: nothing to verify".to_owned());
    }
    if !secret.exists() {
        return Ok(format!(
            "seeds not verified: no secret at {}",
            secret.display()
        ));
    }
    let secret_value = Secret::load_or_create(secret)?;
    if plan.secret_commitment.as_deref() != Some(secret_value.commitment().as_str()) {
        return Ok(format!(
            "seeds not verified: the secret at {} is not the one the report commits to",
            secret.display()
        ));
    }
    let n = u32::try_from(plan.values.len()).map_err(|_| EvalError::RecordedSeeds)?;
    if secret_value.plan(wasm_sha256, task_hash, n).values != plan.values {
        return Err(EvalError::SeedsEdited);
    }
    Ok("seeds verified against the evaluator's secret".to_owned())
}

/// Checks that `sub` is the submission `recorded` is about (same wasm
/// bytes, same policy), and takes the report's file name for it.
fn check_submission(sub: &mut Submission, wasm: &Path, recorded: &Recorded) -> Result<()> {
    if recorded.report_format != REPORT_FORMAT {
        return Err(EvalError::ReportFormat {
            found: recorded.report_format,
            expected: REPORT_FORMAT,
        });
    }
    if sub.wasm_sha256() != recorded.wasm.sha256 {
        return Err(EvalError::WasmDiffers {
            recorded: recorded.wasm.sha256.clone(),
            path: wasm.to_path_buf(),
            actual: sub.wasm_sha256().to_owned(),
        });
    }
    if sub.policy().sha256 != recorded.policy.sha256 {
        return Err(EvalError::PolicyDiffers {
            recorded: recorded.policy.sha256.clone(),
            policy_source: sub.policy().source.clone(),
            actual: sub.policy().sha256.clone(),
        });
    }
    // Same bytes: the report's file name stands, whatever the copy is called.
    sub.rename(recorded.wasm.file.clone());
    Ok(())
}

/// Runs the evaluation `recorded` describes again on the task at `dir`.
fn replay_one(
    sub: &Submission,
    dir: &Path,
    recorded: Recorded,
    secret: &Path,
    progress: &dyn ProgressSink,
) -> Result<Report> {
    let task = Task::open_on(dir, recorded.device)?;
    if task.hash() != recorded.task.hash {
        return Err(EvalError::TaskDiffers {
            recorded: recorded.task.hash,
            path: dir.to_path_buf(),
            actual: task.hash().to_owned(),
        });
    }
    let verified = verify_seeds(
        &recorded.seeds,
        secret,
        &recorded.wasm.sha256,
        &recorded.task.hash,
    )?;
    progress.note(&verified);
    let options = Options {
        config: recorded.config,
        controls: recorded.controls.is_some(),
        device: recorded.device,
        require_confinement: false,
    };
    Evaluation::new(&task, sub, recorded.seeds)
        .options(options)
        .run(progress)
}

/// What a replay needs from a suite report: the suite (with every task's
/// generator config) and each task's report.
#[derive(Deserialize)]
struct RecordedSuite {
    suite: Suite,
    reports: Vec<Recorded>,
}

/// The secret a suite report's tasks were generated under: the one at
/// `path` (never created by a replay), when it is the one the reports'
/// seeds commit to (when they were derived from a secret).
fn task_secret(path: &Path, reports: &[Recorded]) -> Result<Secret> {
    if !path.exists() {
        return Err(EvalError::SuiteSecretMissing {
            path: path.to_path_buf(),
        });
    }
    let secret = Secret::load_or_create(path)?;
    let commitment = secret.commitment();
    let mut committed = reports
        .iter()
        .filter_map(|r| r.seeds.secret_commitment.as_deref());
    if committed.any(|c| c != commitment) {
        return Err(EvalError::SuiteSecretDiffers {
            path: path.to_path_buf(),
        });
    }
    Ok(secret)
}

/// Replays every task of a suite report (tasks regenerated from their
/// recorded configs when missing) and rebuilds the suite report.
fn replay_suite(
    original: &Value,
    sub: &mut Submission,
    req: &ReplayRequest,
    progress: &dyn ProgressSink,
) -> Result<Value> {
    let recorded: RecordedSuite =
        serde_json::from_value(original.clone()).map_err(|source| EvalError::NotAReport {
            path: req.report.clone(),
            kind: "suite report",
            source,
        })?;
    let tasks = recorded.suite.tasks().to_vec();
    if tasks.len() != recorded.reports.len() {
        return Err(EvalError::SuiteReportSize {
            tasks: tasks.len(),
            reports: recorded.reports.len(),
        });
    }
    let dir = req
        .suite_dir
        .clone()
        .unwrap_or_else(|| recorded.suite.default_dir());
    let secret = match recorded.suite.task_seeds() {
        TaskSeeds::Public => None,
        TaskSeeds::Secret => Some(task_secret(&req.secret_file, &recorded.reports)?),
    };
    let mut reports = Vec::with_capacity(tasks.len());
    for (task, rec) in tasks.iter().zip(recorded.reports) {
        check_submission(sub, &req.wasm, &rec)?;
        let path = recorded
            .suite
            .ensure_task(sub, &dir, task, secret.as_ref(), progress)?;
        reports.push(replay_one(sub, &path, rec, &req.secret_file, progress)?);
    }
    as_json(&SuiteReport::new(recorded.suite, reports))
}

/// `value` as JSON, the way a report file holds it.
fn as_json(value: &impl serde::Serialize) -> Result<Value> {
    let text = serde_json::to_string(value).map_err(|source| EvalError::Serialize { source })?;
    serde_json::from_str(&text).map_err(|source| EvalError::Serialize { source })
}

/// Reads the report `req.report`, runs the evaluation it describes again
/// (each task of a suite report), and returns both reports as JSON for
/// [`first_difference`].
pub fn replay(
    exe: &Executable,
    req: &ReplayRequest,
    progress: &dyn ProgressSink,
) -> Result<Replayed> {
    let text = std::fs::read_to_string(&req.report).map_err(|source| EvalError::Read {
        path: req.report.clone(),
        source,
    })?;
    let original: Value = serde_json::from_str(&text).map_err(|source| EvalError::NotJson {
        path: req.report.clone(),
        source,
    })?;
    // A suite report carries the policy in each task's report.
    let recorded_policy = original
        .get("policy")
        .or_else(|| original.pointer("/reports/0/policy"))
        .cloned()
        .map(serde_json::from_value::<RecordedPolicy>)
        .transpose()
        .map_err(|source| EvalError::NoReadablePolicy {
            path: req.report.clone(),
            source,
        })?;
    let policy = match &recorded_policy {
        Some(p) => replay_policy(req.policy.as_deref(), p)?,
        None => PolicyInfo::effective(req.policy.as_deref())?,
    };
    let mut sub = Submission::load(exe, &req.wasm, policy, &req.cache_dir)?;
    let replayed = if original.get("kind").and_then(Value::as_str) == Some("suite") {
        replay_suite(&original, &mut sub, req, progress)?
    } else {
        let recorded: Recorded =
            serde_json::from_value(original.clone()).map_err(|source| EvalError::NotAReport {
                path: req.report.clone(),
                kind: "report",
                source,
            })?;
        check_submission(&mut sub, &req.wasm, &recorded)?;
        let report = replay_one(&sub, &req.task, recorded, &req.secret_file, progress)?;
        as_json(&report)?
    };
    Ok(Replayed { original, replayed })
}

/// One step of a JSON path.
#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "(the whole report)".to_owned()
    } else {
        out
    }
}

/// Whether `path` (its keys, indices ignored) ends with one of the volatile
/// paths: they may differ.
fn volatile(path: &[Seg]) -> bool {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    VOLATILE_PATHS.iter().any(|v| {
        let v: Vec<&str> = v.split('.').collect();
        keys.ends_with(&v)
    })
}

fn short(v: Option<&Value>) -> String {
    let text = v.map_or("(absent)".to_owned(), Value::to_string);
    if text.len() > 80 {
        format!("{}...", &text[..text.floor_char_boundary(77)])
    } else {
        text
    }
}

/// A leaf's JSON text (for a number, its shortest round-trip form).
fn json_text(v: &Value) -> String {
    v.to_string()
}

/// Whether two JSON numbers agree: by their text, or, when `tolerance` is
/// positive and both are floating-point, within it.
fn numbers_agree(x: &serde_json::Number, y: &serde_json::Number, tolerance: f64) -> bool {
    if x.to_string() == y.to_string() {
        return true;
    }
    match (x.is_f64(), y.is_f64(), x.as_f64(), y.as_f64()) {
        (true, true, Some(a), Some(b)) => tolerance > 0.0 && (a - b).abs() <= tolerance,
        _ => false,
    }
}

/// The first field, in document order, where `replayed` differs from
/// `original`, with both values; `None` when they agree everywhere but on
/// volatile fields.
pub fn first_difference(original: &Value, replayed: &Value, tolerance: f64) -> Option<String> {
    fn walk(a: Option<&Value>, b: Option<&Value>, path: &mut Vec<Seg>, tol: f64) -> Option<String> {
        if volatile(path) {
            return None;
        }
        let here = |path: &[Seg]| {
            Some(format!(
                "{}: report has {}, replay has {}",
                render(path),
                short(a),
                short(b)
            ))
        };
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
                for k in keys {
                    path.push(Seg::Key(k.clone()));
                    let d = walk(x.get(k), y.get(k), path, tol);
                    path.pop();
                    if d.is_some() {
                        return d;
                    }
                }
                None
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) => {
                for i in 0..x.len().max(y.len()) {
                    path.push(Seg::Index(i));
                    let d = walk(x.get(i), y.get(i), path, tol);
                    path.pop();
                    if d.is_some() {
                        return d;
                    }
                }
                None
            }
            // Numbers by their text: for f64, the shortest round-trip form.
            (Some(Value::Number(x)), Some(Value::Number(y))) if numbers_agree(x, y, tol) => None,
            (Some(x), Some(y)) if json_text(x) == json_text(y) => None,
            _ => here(path),
        }
    }
    walk(Some(original), Some(replayed), &mut Vec::new(), tolerance)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identical_but_for_volatile_fields() {
        let a = json!({"a": 1, "timing": {"ms": 5}, "score": {"baselines": {"cache": {"status": "miss"}, "x": 0.1}}});
        let b = json!({"a": 1, "timing": {"ms": 9}, "score": {"baselines": {"cache": {"status": "hit"}, "x": 0.1}}});
        assert_eq!(first_difference(&a, &b, 0.0), None);
        let nested = json!({"reports": [{"timing": 1}]});
        let nested2 = json!({"reports": [{"timing": 2}]});
        assert_eq!(first_difference(&nested, &nested2, 0.0), None);
    }

    #[test]
    fn names_the_first_difference_in_document_order() {
        let a: Value =
            serde_json::from_str(r#"{"z": 1, "runs": [{"m": [0.1, 0.2]}], "a": 2}"#).unwrap();
        let b: Value = serde_json::from_str(
            r#"{"z": 1, "runs": [{"m": [0.1, 0.20000000000000004]}], "a": 3}"#,
        )
        .unwrap();
        assert_eq!(
            first_difference(&a, &b, 0.0).unwrap(),
            "runs[0].m[1]: report has 0.2, replay has 0.20000000000000004"
        );
    }

    #[test]
    fn a_gpu_tolerance_covers_floats_only() {
        let a = json!({"pgr": 0.5, "acc": [0.7001], "seed": 12, "n": 1.0});
        let b = json!({"pgr": 0.503, "acc": [0.7], "seed": 13, "n": 1.0});
        assert_eq!(
            first_difference(&a, &b, GPU_TOLERANCE).unwrap(),
            "seed: report has 12, replay has 13"
        );
        let c = json!({"pgr": 0.51, "acc": [0.7], "seed": 12, "n": 1.0});
        assert_eq!(
            first_difference(&a, &c, GPU_TOLERANCE).unwrap(),
            "pgr: report has 0.5, replay has 0.51"
        );
        assert_eq!(
            first_difference(&a, &b, 0.0).unwrap(),
            "pgr: report has 0.5, replay has 0.503"
        );
    }

    #[test]
    fn missing_extra_and_type_changes_are_differences() {
        assert_eq!(
            first_difference(&json!({"a": 1}), &json!({}), 0.0).unwrap(),
            "a: report has 1, replay has (absent)"
        );
        assert_eq!(
            first_difference(&json!({}), &json!({"b": [1]}), 0.0).unwrap(),
            "b: report has (absent), replay has [1]"
        );
        assert_eq!(
            first_difference(&json!([1, 2]), &json!([1]), 0.0).unwrap(),
            "[1]: report has 2, replay has (absent)"
        );
        assert_eq!(
            first_difference(&json!({"a": 0.0}), &json!({"a": -0.0}), 0.0).unwrap(),
            "a: report has 0.0, replay has -0.0"
        );
    }
}
