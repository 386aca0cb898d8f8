//! `w2s eval --suite`: the generalization check.
//!
//! A strategy is scored on tasks it was not developed on: synthetic tasks
//! from [`w2s_train::synth`] under other generator seeds and other story
//! parameters (how much of the concept the teacher sees, how noisy its
//! view is). The suite is a small TOML file (`examples/suites/default.toml`
//! is built in); its tasks are generated deterministically into a cache
//! directory on first use and checked against their recorded config after
//! that. Each task gets a full evaluation (host-chosen seeds derived from
//! that task's hash, controls when asked); the suite report gives PGR per
//! task and the worst case, which is what a generalizing strategy must keep
//! up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use w2s_train::synth::{Family, SynthConfig};

use crate::eval::{CommonArgs, evaluate, load_with, open_task, print_refusal, write_json};
use crate::evaluation::{Options, Submission};
use crate::report::{REPORT_FORMAT, Report, Versions, coarse, format_rows};

/// The built-in suite.
const DEFAULT_SUITE: &str = include_str!("../../examples/suites/default.toml");
/// Most tasks in a suite (each is a whole evaluation).
const MAX_TASKS: usize = 32;

/// Arguments of `w2s eval --suite`.
#[derive(Args, Default)]
pub(crate) struct SuiteArgs {
    /// Score on the generalization suite (tasks and seeds the strategy was
    /// not developed on) instead of one task.
    #[arg(long, conflicts_with = "task")]
    suite: bool,
    /// The suite definition [default: examples/suites/default.toml, built in].
    #[arg(long, value_name = "FILE", requires = "suite")]
    suite_file: Option<PathBuf>,
    /// Where the suite's tasks are generated [default: .w2s/suites/NAME].
    #[arg(long, value_name = "DIR", requires = "suite")]
    suite_dir: Option<PathBuf>,
}

impl SuiteArgs {
    pub(crate) fn enabled(&self) -> bool {
        self.suite
    }
}

/// The suite file's format version, pinned by type: only `1` deserializes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
struct SuiteV1;

impl TryFrom<u32> for SuiteV1 {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if v == 1 {
            Ok(SuiteV1)
        } else {
            Err(format!(
                "unsupported suite version {v}; this build reads version 1"
            ))
        }
    }
}

impl From<SuiteV1> for u32 {
    fn from(_: SuiteV1) -> u32 {
        1
    }
}

/// One task of a suite: a family's task (the default task's story unless
/// `family` says otherwise) with some parameters changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuiteTask {
    /// Task name and directory name: ASCII letters, digits, `-` and `_`.
    name: String,
    /// Generator seed.
    seed: u64,
    /// The task family [default: latent].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weak_visible: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weak_noise: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    strong_noise: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    teacher_train: Option<u32>,
}

impl SuiteTask {
    /// The generator config: its family's task, with this task's changes.
    fn config(&self) -> SynthConfig {
        let d = SynthConfig::family_task(self.family.unwrap_or_default(), self.seed);
        SynthConfig {
            name: self.name.clone(),
            classes: self.classes.unwrap_or(d.classes),
            weak_visible: self.weak_visible.unwrap_or(d.weak_visible),
            weak_noise: self.weak_noise.unwrap_or(d.weak_noise),
            strong_noise: self.strong_noise.unwrap_or(d.strong_noise),
            pool: self.pool.unwrap_or(d.pool),
            test: self.test.unwrap_or(d.test),
            teacher_train: self.teacher_train.unwrap_or(d.teacher_train),
            ..d
        }
    }
}

/// A suite file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    /// Never read: deserializing it pins the version.
    #[allow(dead_code)]
    version: SuiteV1,
    name: String,
    tasks: Vec<SuiteTask>,
}

/// A validated suite, as its report records it (`w2s replay` reads it
/// back).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Suite {
    name: String,
    /// `built-in` or the file's path as given.
    source: String,
    /// sha256 of the definition's bytes.
    sha256: String,
    tasks: Vec<SuiteTask>,
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Suite {
    fn parse(text: &str, source: String) -> Result<Self> {
        let file: SuiteFile =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        if !safe_name(&file.name) {
            bail!(
                "suite name {:?} must be 1 to 64 ASCII letters, digits, - or _",
                file.name
            );
        }
        if file.tasks.is_empty() || file.tasks.len() > MAX_TASKS {
            bail!(
                "a suite has 1 to {MAX_TASKS} tasks, this one {}",
                file.tasks.len()
            );
        }
        let mut names = BTreeSet::new();
        for t in &file.tasks {
            if !safe_name(&t.name) {
                bail!(
                    "task name {:?} must be 1 to 64 ASCII letters, digits, - or _",
                    t.name
                );
            }
            if !names.insert(t.name.as_str()) {
                bail!("task name {:?} appears twice", t.name);
            }
            t.config()
                .validate()
                .with_context(|| format!("task {}", t.name))?;
        }
        Ok(Self {
            name: file.name,
            source,
            sha256: w2s_train::bundle::sha256_hex(text.as_bytes()),
            tasks: file.tasks,
        })
    }

    /// Where its tasks are generated unless `--suite-dir` says otherwise.
    pub(crate) fn default_dir(&self) -> PathBuf {
        PathBuf::from(".w2s/suites").join(&self.name)
    }

    /// Its tasks, in order.
    pub(crate) fn tasks(&self) -> &[SuiteTask] {
        &self.tasks
    }

    /// The suite at `file`, or the built-in one.
    fn load(file: Option<&Path>) -> Result<Self> {
        match file {
            None => Self::parse(DEFAULT_SUITE, "built-in".to_owned()).context("the built-in suite"),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Self::parse(&text, path.display().to_string())
                    .with_context(|| format!("{}", path.display()))
            }
        }
    }
}

/// Generates `task` into `dir/NAME` unless it is there (in a child
/// process: see [`crate::task_cmd::generate_in_child`]); checks that a task
/// already there was generated from the same config.
pub(crate) fn ensure_task(dir: &Path, task: &SuiteTask) -> Result<PathBuf> {
    let path = dir.join(&task.name);
    let config = task.config();
    let expected = serde_json::to_string(&config).expect("config serializes");
    if path.join(w2s_train::bundle::MANIFEST).exists() {
        let (manifest, _) = w2s_train::bundle::Manifest::read(&path)?;
        if manifest.provenance.get("config") != Some(&expected) {
            bail!(
                "{} holds a task generated from another config than the suite's; delete it to regenerate",
                path.display()
            );
        }
        return Ok(path);
    }
    crate::task_cmd::ensure_task(&path, &config)
        .with_context(|| format!("cannot generate suite task {}", task.name))?;
    Ok(path)
}

/// One task's line in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct TaskSummary {
    task: String,
    hash: String,
    /// Mean PGR over seeds on each part (`None` when not scored).
    public_pgr: Option<f64>,
    private_pgr: Option<f64>,
    flags: Vec<&'static str>,
}

/// The worst task, by private PGR (ranking) and by public PGR (feedback).
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Worst {
    private: Option<(String, f64)>,
    public: Option<(String, f64)>,
}

/// The report of a suite evaluation.
#[derive(Serialize)]
pub(crate) struct SuiteReport {
    report_format: u32,
    kind: &'static str,
    versions: Versions,
    suite: Suite,
    summary: Vec<TaskSummary>,
    worst: Worst,
    reports: Vec<Report>,
}

impl SuiteReport {
    /// The report of `suite` from its tasks' reports, in suite order.
    pub(crate) fn new(suite: Suite, reports: Vec<Report>) -> Self {
        let summary: Vec<TaskSummary> = reports
            .iter()
            .map(|r| {
                let part =
                    |p: fn(&crate::scores::Scores) -> Option<&w2s_scorer::stats::Summary>| {
                        r.score.as_ref().and_then(p).map(|s| s.mean)
                    };
                TaskSummary {
                    task: r.task.name.clone(),
                    hash: r.task.hash.clone(),
                    public_pgr: part(|s| s.public.pgr.as_ref()),
                    private_pgr: part(|s| s.private.pgr.as_ref()),
                    flags: r.flags.iter().map(|f| f.code).collect(),
                }
            })
            .collect();
        Self {
            report_format: REPORT_FORMAT,
            kind: "suite",
            versions: Versions::current(),
            worst: Worst {
                private: worst(&summary, |t| t.private_pgr),
                public: worst(&summary, |t| t.public_pgr),
            },
            suite,
            summary,
            reports,
        }
    }
}

fn worst(summary: &[TaskSummary], f: fn(&TaskSummary) -> Option<f64>) -> Option<(String, f64)> {
    // A task that was not scored is the worst case of all.
    if summary.iter().any(|t| f(t).is_none()) {
        return None;
    }
    summary
        .iter()
        .filter_map(|t| f(t).map(|v| (t.task.clone(), v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Evaluates `sub` on every task of `suite`.
fn evaluate_suite(
    sub: &Submission,
    suite: &Suite,
    dir: &Path,
    common: &CommonArgs,
) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for task in &suite.tasks {
        let view = open_task(&ensure_task(dir, task)?, common.sandbox.device)?;
        let opts = Options {
            config: common.config.clone(),
            seeds: common.seeds.plan(&sub.wasm_sha256, &view.task.task_hash)?,
            controls: common.controls,
        };
        eprintln!("suite task {}...", task.name);
        reports.push(evaluate(sub, &view, &opts, None)?);
    }
    Ok(reports)
}

pub(crate) fn run(
    args: &SuiteArgs,
    common: &CommonArgs,
    json: Option<&Path>,
    feedback_only: bool,
) -> Result<ExitCode> {
    let suite = Suite::load(args.suite_file.as_deref())?;
    let dir = args
        .suite_dir
        .clone()
        .unwrap_or_else(|| suite.default_dir());
    let sub = load_with(&common.wasm, &common.sandbox)?;
    print_refusal(&sub);
    let reports = evaluate_suite(&sub, &suite, &dir, common)?;
    let report = SuiteReport::new(suite, reports);
    print!("{}", table(&report, feedback_only));
    if let Some(path) = json {
        write_json(path, &report)?;
    }
    Ok(if report.reports.iter().all(Report::fully_scored) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Per-task PGR and the worst case; public figures only with
/// `feedback_only`. Rounded to 0.01 either way.
fn table(r: &SuiteReport, feedback_only: bool) -> String {
    let fig = |v: Option<f64>| v.map_or("not scored".to_owned(), coarse);
    let mut rows: Vec<(String, String)> = Vec::new();
    for t in &r.summary {
        let flags = if t.flags.is_empty() {
            String::new()
        } else {
            format!("  flags: {}", t.flags.join(", "))
        };
        let line = if feedback_only {
            format!("public PGR {}{flags}", fig(t.public_pgr))
        } else {
            format!(
                "public PGR {}, private PGR {}{flags}",
                fig(t.public_pgr),
                fig(t.private_pgr)
            )
        };
        rows.push((t.task.clone(), line));
    }
    let worst = |w: &Option<(String, f64)>| {
        w.as_ref()
            .map_or("a task was not scored".to_owned(), |(t, v)| {
                format!("{} ({t})", coarse(*v))
            })
    };
    if feedback_only {
        rows.push((
            "worst".to_owned(),
            format!("public PGR {}", worst(&r.worst.public)),
        ));
    } else {
        rows.push((
            "worst".to_owned(),
            format!(
                "public PGR {}, private PGR {}",
                worst(&r.worst.public),
                worst(&r.worst.private)
            ),
        ));
    }
    rows.push((
        "suite".to_owned(),
        format!(
            "{} ({}) sha256:{}",
            r.suite.name, r.suite.source, r.suite.sha256
        ),
    ));
    let rows: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    format_rows(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_suite_is_valid() {
        let s = Suite::load(None).unwrap();
        assert_eq!(s.name, "default");
        assert!(s.tasks.len() >= 3);
        // None of its tasks is the default task (seed 0, default story).
        for t in &s.tasks {
            assert_ne!(t.config(), SynthConfig::default_task(0));
        }
    }

    #[test]
    fn bad_suites_name_their_problem() {
        let err = |text: &str| format!("{:#}", Suite::parse(text, "t".into()).unwrap_err());
        assert!(
            err("version = 2\nname = \"x\"\ntasks = []").contains("unsupported suite version 2")
        );
        assert!(err("version = 1\nname = \"x\"\ntasks = []").contains("1 to 32 tasks"));
        let dup = "version = 1\nname = \"x\"\n[[tasks]]\nname = \"a\"\nseed = 1\n[[tasks]]\nname = \"a\"\nseed = 2\n";
        assert!(err(dup).contains("appears twice"));
        let bad =
            "version = 1\nname = \"x\"\n[[tasks]]\nname = \"a\"\nseed = 1\nweak_visible = 99\n";
        assert!(err(bad).contains("weak_visible"));
        let unknown =
            "version = 1\nname = \"x\"\n[[tasks]]\nname = \"a\"\nseed = 1\nsurprise = 1\n";
        assert!(err(unknown).contains("surprise"));
        let path = "version = 1\nname = \"x\"\n[[tasks]]\nname = \"../a\"\nseed = 1\n";
        assert!(err(path).contains("ASCII letters"));
    }

    #[test]
    fn worst_case_is_the_minimum_and_a_missing_score_is_worse() {
        let t = |name: &str, v: Option<f64>| TaskSummary {
            task: name.into(),
            hash: String::new(),
            public_pgr: v,
            private_pgr: v,
            flags: vec![],
        };
        let s = vec![t("a", Some(0.4)), t("b", Some(-0.1)), t("c", Some(0.2))];
        assert_eq!(worst(&s, |t| t.private_pgr), Some(("b".into(), -0.1)));
        let s = vec![t("a", Some(0.4)), t("b", None)];
        assert_eq!(worst(&s, |t| t.private_pgr), None);
    }
}
