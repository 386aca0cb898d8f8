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
//!
//! The generator seeds written in a suite file are public: anyone can
//! regenerate those tasks, test split included, and train an oracle on
//! them offline. A suite evaluated for ranking ([`TaskSeeds::Secret`],
//! `w2s eval --suite --secret-task-seeds`) generates each task under a
//! seed derived from the evaluator's secret instead
//! ([`Suite::generator_seed`]). The derived seeds are written nowhere a
//! submitter sees: the report records the suite as listed (its public
//! seeds) and the marker `task_seeds = "secret"`; the tasks' hashes are
//! the only trace of them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use w2s_train::synth::{Family, SynthConfig};

use crate::error::{EvalError, Result};
use crate::evaluation::Evaluation;
use crate::options::Options;
use crate::progress::ProgressSink;
use crate::report::{REPORT_FORMAT, Report, Versions};
use crate::seeds::{Secret, SeedRequest};
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
    /// The generator config under its listed seed.
    fn config(&self) -> SynthConfig {
        self.config_with_seed(self.seed)
    }

    /// The generator config under generator seed `seed`: its family's
    /// task, with this task's changes.
    fn config_with_seed(&self, seed: u64) -> SynthConfig {
        let d = SynthConfig::family_task(self.family.unwrap_or_default(), seed);
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

/// Where the generator seeds of a suite's tasks come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSeeds {
    /// The seeds listed in the suite file: anyone can regenerate the tasks
    /// (development; the default).
    #[default]
    Public,
    /// Derived from the evaluator's secret and the listed seeds
    /// ([`Suite::generator_seed`]): nobody without the secret can
    /// regenerate the tasks (ranking).
    Secret,
}

impl TaskSeeds {
    fn is_public(&self) -> bool {
        *self == Self::Public
    }
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
    /// Where the tasks' generator seeds come from. Absent (public) in the
    /// reports of suites with public seeds, so that reports written before
    /// this field existed still replay identically.
    #[serde(default, skip_serializing_if = "TaskSeeds::is_public")]
    task_seeds: TaskSeeds,
    /// The tasks, with their listed (public) seeds, whatever `task_seeds`
    /// says.
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
            task_seeds: TaskSeeds::Public,
            tasks: file.tasks,
        })
    }

    /// Where its tasks are generated unless `--suite-dir` says otherwise:
    /// `.w2s/suites/NAME`, or `.w2s/suites/NAME.secret` under secret seeds
    /// (a suite name has no `.`, so the two never meet).
    pub fn default_dir(&self) -> PathBuf {
        let dir = match self.task_seeds {
            TaskSeeds::Public => self.name.clone(),
            TaskSeeds::Secret => format!("{}.secret", self.name),
        };
        PathBuf::from(".w2s/suites").join(dir)
    }

    /// The same suite with its tasks generated under seeds derived from
    /// the evaluator's secret ([`TaskSeeds::Secret`]): for ranking. The
    /// secret itself is given to [`Suite::evaluate`].
    pub fn with_secret_task_seeds(mut self) -> Self {
        self.task_seeds = TaskSeeds::Secret;
        self
    }

    /// Where its tasks' generator seeds come from.
    pub fn task_seeds(&self) -> TaskSeeds {
        self.task_seeds
    }

    /// The generator seed of `task`: its listed seed, or under
    /// [`TaskSeeds::Secret`]
    /// `secret.task_seed("suite/SUITE/TASK/LISTED_SEED")` (see
    /// [`Secret::task_seed`]); names hold no `/`, so each task of each
    /// suite gets its own seed. Never write it where a submitter may read
    /// it (a report, an error, a log line).
    pub fn generator_seed(&self, task: &SuiteTask, secret: Option<&Secret>) -> Result<u64> {
        match (self.task_seeds, secret) {
            (TaskSeeds::Public, _) => Ok(task.seed),
            (TaskSeeds::Secret, Some(secret)) => {
                Ok(secret.task_seed(&format!("suite/{}/{}/{}", self.name, task.name, task.seed)))
            }
            (TaskSeeds::Secret, None) => Err(EvalError::SuiteNeedsSecret {
                suite: self.name.clone(),
            }),
        }
    }

    /// Whose config a task directory of this suite must hold, for
    /// [`task::holds_task_of`]'s error: it names the seeds' source, never
    /// a seed.
    fn whose(&self) -> &'static str {
        match self.task_seeds {
            TaskSeeds::Public => "the suite's",
            TaskSeeds::Secret => "the suite's under seeds from the evaluator's secret",
        }
    }

    /// The generator config of `task` under [`Suite::generator_seed`].
    fn task_config(&self, task: &SuiteTask, secret: Option<&Secret>) -> Result<SynthConfig> {
        Ok(task.config_with_seed(self.generator_seed(task, secret)?))
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

impl Suite {
    /// Generates `task` (one of this suite's) into `dir/NAME` unless it is
    /// there (in a child process of the submission's executable: see
    /// [`task::ensure_task`]); checks that a task already there was
    /// generated from the same config (seed included). `secret` is needed
    /// under [`TaskSeeds::Secret`], ignored otherwise.
    pub fn ensure_task(
        &self,
        sub: &Submission,
        dir: &Path,
        task: &SuiteTask,
        secret: Option<&Secret>,
        progress: &dyn ProgressSink,
    ) -> Result<PathBuf> {
        let path = dir.join(&task.name);
        let config = self.task_config(task, secret)?;
        if task::holds_task_of(&path, &config, self.whose())? {
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
    /// `dir` when missing (under [`Suite::generator_seed`]: `secret` is
    /// needed under [`TaskSeeds::Secret`]), each under seeds planned by
    /// `seeds` for that task's hash.
    pub fn evaluate(
        self,
        sub: &Submission,
        dir: &Path,
        secret: Option<&Secret>,
        seeds: &SeedRequest,
        options: &Options,
        progress: &dyn ProgressSink,
    ) -> Result<SuiteReport> {
        let mut reports = Vec::new();
        for suite_task in &self.tasks {
            let path = self.ensure_task(sub, dir, suite_task, secret, progress)?;
            let task = Task::open_on(&path, options.device)?;
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

    /// Issue 18, item 7a: a ranking suite's tasks cannot be regenerated
    /// from the suite file's public seeds.
    #[test]
    fn secret_task_seeds_differ_from_public_ones_and_between_secrets() {
        let a = Secret::from_bytes(vec![1; 32]);
        let b = Secret::from_bytes(vec![2; 32]);
        let public = Suite::load(None).unwrap();
        let secret = public.clone().with_secret_task_seeds();
        assert_eq!(public.task_seeds(), TaskSeeds::Public);
        assert_eq!(secret.task_seeds(), TaskSeeds::Secret);
        let mut seen = BTreeSet::new();
        for t in secret.tasks() {
            let sa = secret.generator_seed(t, Some(&a)).unwrap();
            assert_ne!(sa, t.seed);
            assert_ne!(sa, secret.generator_seed(t, Some(&b)).unwrap());
            // The same secret gives the same task, seed and config alike.
            assert_eq!(sa, secret.generator_seed(t, Some(&a)).unwrap());
            let config = secret.task_config(t, Some(&a)).unwrap();
            assert_eq!(config, secret.task_config(t, Some(&a)).unwrap());
            assert_eq!(config.seed, sa);
            // Everything but the generator seed is the listed task's.
            let listed = SynthConfig {
                seed: t.seed,
                ..config.clone()
            };
            assert_eq!(listed, t.config());
            assert!(seen.insert(sa), "each task gets its own seed");
            // A public suite ignores a secret.
            assert_eq!(public.generator_seed(t, Some(&a)).unwrap(), t.seed);
            assert_eq!(public.task_config(t, Some(&a)).unwrap(), t.config());
        }
        // Another suite name, another seed for a task of the same name.
        let mut renamed = secret.clone();
        renamed.name = "other".into();
        let t = &secret.tasks()[0];
        assert_ne!(
            renamed.generator_seed(t, Some(&a)).unwrap(),
            secret.generator_seed(t, Some(&a)).unwrap()
        );
        // Without the secret there is no seed, and the error names none.
        let err = chain(&secret.generator_seed(t, None).unwrap_err());
        assert!(err.contains("evaluator's secret"), "{err}");
        assert_ne!(public.default_dir(), secret.default_dir());
        assert_eq!(
            secret.default_dir(),
            Path::new(".w2s/suites/default.secret")
        );
    }

    /// The suite as a report records it keeps the listed seeds and the
    /// marker; no derived seed appears in it.
    #[test]
    fn the_recorded_suite_holds_no_derived_seed() {
        let a = Secret::from_bytes(vec![1; 32]);
        let suite = Suite::load(None).unwrap().with_secret_task_seeds();
        let derived: Vec<String> = suite
            .tasks()
            .iter()
            .map(|t| suite.generator_seed(t, Some(&a)).unwrap().to_string())
            .collect();
        let report = SuiteReport::new(suite.clone(), Vec::new());
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains(r#""task_seeds":"secret""#), "{json}");
        for d in &derived {
            assert!(!json.contains(d.as_str()), "derived seed {d} in {json}");
        }
        // Read back (as `w2s replay` does): the marker and the listed seeds.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let back: Suite = serde_json::from_value(value["suite"].clone()).unwrap();
        assert_eq!(back.task_seeds(), TaskSeeds::Secret);
        assert_eq!(back.tasks(), suite.tasks());
        // A public suite's record has no marker, like the reports written
        // before it existed, and those still read back as public.
        let public = serde_json::to_value(Suite::load(None).unwrap()).unwrap();
        assert!(public.get("task_seeds").is_none(), "{public}");
        let old: Suite = serde_json::from_value(public).unwrap();
        assert_eq!(old.task_seeds(), TaskSeeds::Public);
    }

    /// A directory holding the public task is refused for the secret one,
    /// and the refusal names no seed.
    #[test]
    fn a_public_task_is_refused_under_secret_seeds_without_naming_a_seed() {
        let a = Secret::from_bytes(vec![1; 32]);
        let text = "version = 1\nname = \"tiny\"\n[[tasks]]\nname = \"t1\"\nseed = 7\npool = 200\ntest = 200\nteacher_train = 200\n";
        let public = Suite::parse(text, "t".into()).unwrap();
        let secret = public.clone().with_secret_task_seeds();
        let t = &public.tasks()[0];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t1");
        w2s_train::synth::generate(&t.config(), &path).unwrap();
        let config = public.task_config(t, Some(&a)).unwrap();
        assert!(task::holds_task_of(&path, &config, public.whose()).unwrap());
        let config = secret.task_config(t, Some(&a)).unwrap();
        let err = chain(&task::holds_task_of(&path, &config, secret.whose()).unwrap_err());
        assert!(err.contains("generated from another config"), "{err}");
        assert!(!err.contains(&config.seed.to_string()), "{err}");
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
