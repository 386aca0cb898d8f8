//! The generalization check (`w2s eval --suite`): one submission on every
//! task of a suite.
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

use serde::{Deserialize, Serialize};
use w2s_train::synth::{Family, SynthConfig};

use crate::error::{EvalError, Result};
use crate::evaluation::Evaluation;
use crate::options::Options;
use crate::progress::ProgressSink;
use crate::report::{REPORT_FORMAT, Report, Versions};
use crate::seeds::SeedRequest;
use crate::submission::Submission;
use crate::task::{self, Task};

/// The built-in suite (`examples/suites/default.toml`).
pub const DEFAULT_SUITE: &str = include_str!("../../examples/suites/default.toml");
/// Most tasks in a suite (each is a whole evaluation).
const MAX_TASKS: usize = 32;

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
pub struct SuiteTask {
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
pub struct Suite {
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
        let file: SuiteFile = toml::from_str(text).map_err(|e| EvalError::SuiteSyntax {
            message: e.message().to_owned(),
        })?;
        if !safe_name(&file.name) {
            return Err(EvalError::UnsafeName {
                what: "suite name",
                name: file.name,
            });
        }
        if file.tasks.is_empty() || file.tasks.len() > MAX_TASKS {
            return Err(EvalError::SuiteSize {
                max: MAX_TASKS,
                count: file.tasks.len(),
            });
        }
        let mut names = BTreeSet::new();
        for t in &file.tasks {
            if !safe_name(&t.name) {
                return Err(EvalError::UnsafeName {
                    what: "task name",
                    name: t.name.clone(),
                });
            }
            if !names.insert(t.name.as_str()) {
                return Err(EvalError::SuiteDuplicateTask {
                    name: t.name.clone(),
                });
            }
            t.config()
                .validate()
                .map_err(|source| EvalError::SuiteTaskConfig {
                    name: t.name.clone(),
                    source,
                })?;
        }
        Ok(Self {
            name: file.name,
            source,
            sha256: w2s_train::bundle::sha256_hex(text.as_bytes()),
            tasks: file.tasks,
        })
    }

    /// Where its tasks are generated unless `--suite-dir` says otherwise.
    pub fn default_dir(&self) -> PathBuf {
        PathBuf::from(".w2s/suites").join(&self.name)
    }

    /// Its tasks, in order.
    pub fn tasks(&self) -> &[SuiteTask] {
        &self.tasks
    }

    /// The suite at `file`, or the built-in one.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        match file {
            None => Self::parse(DEFAULT_SUITE, "built-in".to_owned()).map_err(|e| {
                EvalError::SuiteFile {
                    file: "the built-in suite".to_owned(),
                    source: Box::new(e),
                }
            }),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::parse(&text, path.display().to_string()).map_err(|e| EvalError::SuiteFile {
                    file: path.display().to_string(),
                    source: Box::new(e),
                })
            }
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `built-in` or the file's path as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// sha256 of the definition's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// Generates `task` into `dir/NAME` unless it is there (in a child
/// process of the submission's executable: see [`task::ensure_task`]);
/// checks that a task already there was generated from the same config.
pub fn ensure_task(
    sub: &Submission,
    dir: &Path,
    task: &SuiteTask,
    progress: &dyn ProgressSink,
) -> Result<PathBuf> {
    let path = dir.join(&task.name);
    let config = task.config();
    if task::holds_task_of(&path, &config, "the suite's")? {
        return Ok(path);
    }
    task::ensure_task(sub.executable(), &path, &config, progress).map_err(|e| {
        EvalError::SuiteTask {
            name: task.name.clone(),
            source: Box::new(e),
        }
    })?;
    Ok(path)
}

/// One task's line in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSummary {
    /// The task's name.
    pub task: String,
    /// Its hash.
    pub hash: String,
    /// Mean PGR over seeds on the public part (`None` when not scored).
    pub public_pgr: Option<f64>,
    /// Likewise on the private part.
    pub private_pgr: Option<f64>,
    /// The flags' codes.
    pub flags: Vec<&'static str>,
}

/// The worst task, by private PGR (ranking) and by public PGR (feedback).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    /// By private PGR: the task and its figure (`None` when a task was not
    /// scored).
    pub private: Option<(String, f64)>,
    /// By public PGR, likewise.
    pub public: Option<(String, f64)>,
}

/// The report of a suite evaluation.
#[derive(Debug, Serialize)]
pub struct SuiteReport {
    /// [`REPORT_FORMAT`].
    pub report_format: u32,
    /// `suite`.
    pub kind: &'static str,
    /// What made it.
    pub versions: Versions,
    /// The suite.
    pub suite: Suite,
    /// One line per task, in suite order.
    pub summary: Vec<TaskSummary>,
    /// The worst case.
    pub worst: Worst,
    /// Each task's full report, in suite order.
    pub reports: Vec<Report>,
}

impl SuiteReport {
    /// The report of `suite` from its tasks' reports, in suite order.
    pub fn new(suite: Suite, reports: Vec<Report>) -> Self {
        let summary: Vec<TaskSummary> = reports
            .iter()
            .map(|r| {
                let part = |p: fn(&crate::scores::Scores) -> Option<&crate::stats::Summary>| {
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

impl Suite {
    /// Evaluates `sub` on every task of the suite, each generated into
    /// `dir` when missing, each under seeds planned by `seeds` for that
    /// task's hash.
    pub fn evaluate(
        self,
        sub: &Submission,
        dir: &Path,
        seeds: &SeedRequest,
        options: &Options,
        progress: &dyn ProgressSink,
    ) -> Result<SuiteReport> {
        let mut reports = Vec::new();
        for suite_task in &self.tasks {
            let task = Task::open_on(
                &ensure_task(sub, dir, suite_task, progress)?,
                options.device,
            )?;
            let plan = seeds.plan(sub.wasm_sha256(), task.hash())?;
            progress.note(&format!("suite task {}...", suite_task.name));
            let report = Evaluation::new(&task, sub, plan)
                .options(options.clone())
                .run(progress)?;
            reports.push(report);
        }
        Ok(SuiteReport::new(self, reports))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::chain;

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
        let err = |text: &str| chain(&Suite::parse(text, "t".into()).unwrap_err());
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
