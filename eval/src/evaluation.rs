//! [`Evaluation`]: one submission on one task, through every stage.
//!
//! 1. The submission ([`crate::submission`]) and the seeds
//!    ([`crate::seeds`]) are given.
//! 2. **Sandboxed runs** ([`crate::sandboxed`], this process, the public
//!    part of the task only): once per seed, and once per seed and control.
//! 3. **Scoring** ([`crate::scoring`]): one `w2s score` child process
//!    scores every checkpoint; it alone opens `heldout/`.
//! 4. **Controls and flags** ([`crate::controls`], [`crate::degeneracy`],
//!    [`crate::flags`]) judge what the runs and the scorer produced.
//! 5. **The report** ([`crate::report`]): [`assemble`] is a pure function
//!    of what the stages produced, so two evaluations with the same inputs
//!    give the same report (but for `timing` and the cache status).

use std::path::{Path, PathBuf};

use w2s_verdict::{ScoreSet, StudentScore};

use crate::controls::{ControlReport, ControlRun, Controls};
use crate::degeneracy::{self, Degeneracy};
use crate::error::{EvalError, Result};
use crate::feedback::Feedback;
use crate::flags;
use crate::options::Options;
use crate::progress::ProgressSink;
use crate::report::{REPORT_FORMAT, Report, TaskInfo, Timing, Versions, WasmInfo};
use crate::runs::{NoteInfo, OutcomeInfo, RunEntry};
use crate::sandboxed::{self, SandboxedPhase, SeedRun};
use crate::scores::Scores;
use crate::scoring;
use crate::seeds::SeedPlan;
use crate::submission::Submission;
use crate::task::Task;

/// One evaluation of a submission on a task, under given seeds: build it
/// with [`Evaluation::new`], set its options, [`Evaluation::run`] it (the
/// crate docs have an example).
pub struct Evaluation<'a> {
    task: &'a Task,
    submission: &'a Submission,
    seeds: SeedPlan,
    options: Options,
    checkpoints: Option<PathBuf>,
}

impl<'a> Evaluation<'a> {
    /// `submission` on `task` under `seeds`, with default [`Options`].
    pub fn new(task: &'a Task, submission: &'a Submission, seeds: SeedPlan) -> Self {
        Self {
            task,
            submission,
            seeds,
            options: Options::default(),
            checkpoints: None,
        }
    }

    /// Every option at once [default: [`Options::default`]].
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The config string passed to the strategy [default: empty].
    pub fn config(mut self, config: impl Into<String>) -> Self {
        self.options.config = config.into();
        self
    }

    /// Also run the teacher-ablation controls [default: no].
    pub fn controls(mut self, controls: bool) -> Self {
        self.options.controls = controls;
        self
    }

    /// Keep the student checkpoints in `dir` [default: `None`, a temporary
    /// directory removed once scored].
    pub fn keep_checkpoints(mut self, dir: Option<PathBuf>) -> Self {
        self.checkpoints = dir;
        self
    }

    /// Runs every stage and returns the report.
    pub fn run(&self, progress: &dyn ProgressSink) -> Result<Report> {
        let tmp;
        let out = match &self.checkpoints {
            Some(d) => d.clone(),
            None => {
                tmp = tempfile::tempdir().map_err(|source| EvalError::TempDir { source })?;
                tmp.path().to_path_buf()
            }
        };
        let phase = self.sandboxed(&out, progress)?;
        let (score, score_ms) = if phase.any_student() {
            let exe = self.submission.executable();
            let (set, ms) = scoring::score(exe, self.task, &phase.checkpoints())?;
            (Some(set), ms)
        } else {
            (None, 0)
        };
        Ok(self.assemble(phase, score, score_ms))
    }

    /// Runs the sandboxed stage only, writing the checkpoints into `out`
    /// (needs only the public part of the task). Returns the unscored
    /// report and the checkpoints written, real runs first.
    pub fn run_unscored(
        &self,
        out: &Path,
        progress: &dyn ProgressSink,
    ) -> Result<(Report, Vec<PathBuf>)> {
        let phase = self.sandboxed(out, progress)?;
        let checkpoints = phase.checkpoints();
        Ok((self.assemble(phase, None, 0), checkpoints))
    }

    fn sandboxed(&self, out: &Path, progress: &dyn ProgressSink) -> Result<SandboxedPhase> {
        sandboxed::run_all(
            self.submission,
            self.task,
            &self.seeds,
            &self.options,
            out,
            progress,
        )
    }

    /// Builds the report from what the stages produced.
    fn assemble(&self, phase: SandboxedPhase, score: Option<ScoreSet>, score_ms: u64) -> Report {
        let (sub, task) = (self.submission, self.task);
        let (seeds, opts) = (&self.seeds, &self.options);
        // Verdicts come back in checkpoint order: real runs first, then controls.
        let mut verdicts = score.iter().flat_map(|s| s.students.iter());
        let mut next = |r: &SeedRun| r.checkpoint.as_ref().and_then(|_| verdicts.next());
        let real: Vec<(u64, &StudentScore)> = phase
            .runs
            .iter()
            .filter_map(|r| next(r).map(|v| (r.seed, v)))
            .collect();
        let scores = score.as_ref().map(|set| Scores::new(set, &real));
        let all_scored = phase.runs.iter().all(|r| r.checkpoint.is_some());
        let real_private = scores
            .as_ref()
            .filter(|_| all_scored)
            .and_then(Scores::private_pgr);
        let controls = phase.controls.as_ref().map(|c| {
            let mut reports = c.kinds.iter().map(|(kind, runs)| {
                let runs = runs
                    .iter()
                    .map(|r| {
                        let v = next(r);
                        ControlRun {
                            seed: r.seed,
                            outcome: OutcomeInfo::of(&r.run.outcome),
                            usage: r.run.usage.clone(),
                            public: v.map(|v| v.public),
                            private: v.map(|v| v.private),
                        }
                    })
                    .collect();
                ControlReport::judge(*kind, runs, real_private)
            });
            let mut next_report = || reports.next().expect("three controls");
            let reports = [next_report(), next_report(), next_report()];
            Controls::new(c.inputs, task.public().classes(), reports)
        });
        let degeneracy = Degeneracy::check(
            degeneracy::weak_class_fractions(task.public()),
            phase
                .runs
                .iter()
                .filter_map(|r| r.pool.as_ref().map(|p| (r.seed, p))),
        );
        let runs: Vec<RunEntry> = phase.runs.into_iter().map(run_entry).collect();
        let gap = score.as_ref().map(crate::gap::test_gap);
        let flags = flags::flags(seeds, &runs, &degeneracy, controls.as_ref(), gap.as_ref());
        let rankable = flags::rankable(seeds, &runs, scores.is_some());
        let m = &task.public().manifest;
        Report {
            report_format: REPORT_FORMAT,
            versions: Versions::current(),
            wasm: WasmInfo {
                file: sub.wasm_file().to_owned(),
                sha256: sub.wasm_sha256().to_owned(),
                bytes: sub.wasm_bytes(),
            },
            task: TaskInfo {
                name: m.name.clone(),
                hash: task.hash().to_owned(),
                pool: m.splits.pool,
                classes: m.classes,
            },
            policy: sub.policy().clone(),
            seeds: seeds.clone(),
            config: opts.config.clone(),
            device: task.device(),
            gpu: task.gpu(),
            confinement: phase.confinement.clone(),
            feedback: Feedback::new(&runs, scores.as_ref(), &flags, rankable.value),
            timing: Timing {
                compile_ms: sub.loaded.as_ref().map_or(0, |l| l.compile_ms),
                compile_cache: sub.loaded.as_ref().ok().map(|l| l.cache.clone()),
                runs_ms: runs
                    .iter()
                    .map(|r| r.usage.wall_time.as_millis() as u64)
                    .collect(),
                controls_ms: phase.controls_ms,
                score_ms,
            },
            rankable,
            runs,
            score: scores,
            degeneracy,
            controls,
            flags,
        }
    }
}

fn run_entry(r: SeedRun) -> RunEntry {
    RunEntry {
        seed: r.seed,
        outcome: OutcomeInfo::of(&r.run.outcome),
        usage: r.run.usage,
        metrics: r.run.metrics,
        metrics_dropped: r.run.metrics_dropped,
        stdout: r.run.stdout,
        stderr: r.run.stderr,
        notes: r.run.notes.iter().map(NoteInfo::of).collect(),
        audit: r.run.audit,
        pool_predictions: r.pool,
    }
}
