//! One evaluation of a submission on a task, in two phases.
//!
//! 1. **Sandboxed phase** (this process, the public part of the task only):
//!    the strategy runs once per seed, then, with `--controls`, once per
//!    seed on each control task. Each completed student is written as a
//!    checkpoint and checked for degeneracy on the pool.
//! 2. **Scoring phase**: one `w2s score` child process scores every
//!    checkpoint (real and control) in one call, so the held-out data is
//!    verified and the baselines are loaded once. That child is the only
//!    process that opens `heldout/`.
//!
//! [`assemble`] then turns both into the [`Report`]; it is a pure function
//! of what the phases produced, so two evaluations with the same inputs
//! give the same report (but for `timing` and the cache status).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use w2s_host::{Outcome, Progress, RunReport, Sandbox};
use w2s_scorer::ScoreSet;
use w2s_train::bundle::PublicTask;

use crate::compile_cmd::Loaded;
use crate::controls::{self, ControlKind, ControlReport, ControlRun, Controls};
use crate::degeneracy::{self, Degeneracy, PoolPredictions};
use crate::feedback::Feedback;
use crate::flags;
use crate::progress;
use crate::report::{
    NoteInfo, OutcomeInfo, PolicyInfo, REPORT_FORMAT, Report, RunEntry, TaskInfo, Timing, Versions,
    WasmInfo,
};
use crate::scores::Scores;
use crate::seeds::SeedPlan;

/// A loaded submission: the compiled strategy (or the sandbox's refusal
/// of it), the sandbox it runs in, and the policy that sandbox enforces.
pub(crate) struct Submission {
    pub(crate) wasm_file: String,
    pub(crate) wasm_bytes: u64,
    pub(crate) wasm_sha256: String,
    pub(crate) sandbox: Sandbox,
    /// The compiled strategy, or the outcome and error line of a refused
    /// component.
    pub(crate) loaded: Result<Loaded, (Outcome, String)>,
    pub(crate) policy: PolicyInfo,
    /// Where to write audit logs (`--audit`), if anywhere.
    pub(crate) audit: Option<PathBuf>,
}

/// The public view of one task, and where its bundle lives (for the
/// scorer).
pub(crate) struct TaskView {
    pub(crate) dir: PathBuf,
    pub(crate) task: Arc<PublicTask>,
}

/// What shapes an evaluation besides the submission and the task.
pub(crate) struct Options {
    pub(crate) config: String,
    pub(crate) seeds: SeedPlan,
    pub(crate) controls: bool,
}

/// One sandboxed run, its student saved.
struct SeedRun {
    seed: u64,
    run: RunReport,
    checkpoint: Option<PathBuf>,
    pool: Option<PoolPredictions>,
}

/// The control runs: the permutation's seed, and each control's runs.
struct ControlPhase {
    permutation_seed: u64,
    kinds: Vec<(ControlKind, Vec<SeedRun>)>,
}

/// Everything the sandboxed phase produced.
pub(crate) struct SandboxedPhase {
    runs: Vec<SeedRun>,
    controls: Option<ControlPhase>,
    controls_ms: u64,
}

impl SandboxedPhase {
    /// Every checkpoint written, real runs first, then controls in order.
    pub(crate) fn checkpoints(&self) -> Vec<PathBuf> {
        let controls = self
            .controls
            .iter()
            .flat_map(|c| c.kinds.iter().flat_map(|(_, r)| r));
        self.runs
            .iter()
            .chain(controls)
            .filter_map(|r| r.checkpoint.clone())
            .collect()
    }
}

/// The report of a run that never started: the sandbox refused the
/// component.
fn refused(outcome: Outcome, wasm_sha256: &str, seed: u64) -> RunReport {
    RunReport {
        outcome,
        student: None,
        metrics: Vec::new(),
        metrics_dropped: 0,
        stdout: Default::default(),
        stderr: Default::default(),
        usage: Default::default(),
        notes: Vec::new(),
        audit: Default::default(),
        audit_error: None,
        wasm_sha256: wasm_sha256.to_owned(),
        seed,
    }
}

/// Where run `label`'s audit log goes: the path itself when the evaluation
/// has one run, else `STEM-LABEL.EXT` beside it.
fn audit_path(base: &Path, label: &str, single: bool) -> PathBuf {
    if single {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map_or_else(|| "audit".into(), |s| s.to_string_lossy().into_owned());
    let ext = base
        .extension()
        .map_or_else(|| "jsonl".into(), |s| s.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}-{label}.{ext}"))
}

fn run_guest(
    sub: &Submission,
    task: Arc<PublicTask>,
    config: &str,
    seed: u64,
    label: &str,
    audit: Option<PathBuf>,
) -> Result<RunReport> {
    let loaded = match &sub.loaded {
        Ok(l) => l,
        Err((outcome, _)) => return Ok(refused(outcome.clone(), &sub.wasm_sha256, seed)),
    };
    let bar = progress::compute_bar(label, sub.policy.effective.host().compute_flops);
    let mut on_progress = |pr: Progress| {
        bar.set_message(format!(
            "{} steps, {:.2} GFLOP",
            pr.steps,
            pr.flops as f64 / 1e9
        ));
        bar.tick();
    };
    let report = match audit {
        None => sub
            .sandbox
            .run(&loaded.strategy, task, config, seed, &mut on_progress),
        Some(path) => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let out = Box::new(std::io::BufWriter::new(file));
            let r = sub.sandbox.run_audited(
                &loaded.strategy,
                task,
                config,
                seed,
                &mut on_progress,
                out,
            );
            if let Some(e) = &r.audit_error {
                anyhow::bail!("cannot write the audit log {}: {e}", path.display());
            }
            r
        }
    };
    bar.finish_and_clear();
    Ok(report)
}

fn write_checkpoint(run: &RunReport, path: &Path) -> Result<Option<PathBuf>> {
    let Some(student) = &run.student else {
        return Ok(None);
    };
    let bytes = w2s_train::checkpoint::to_bytes(student).context("cannot serialize the student")?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(path.to_path_buf()))
}

fn seed_runs(
    sub: &Submission,
    task: &Arc<PublicTask>,
    opts: &Options,
    out: &Path,
    name: &str,
    weak: Option<&[f64]>,
) -> Result<Vec<SeedRun>> {
    let n = opts.seeds.values.len();
    let single = n == 1 && !opts.controls;
    let mut runs = Vec::with_capacity(n);
    for (i, &seed) in opts.seeds.values.iter().enumerate() {
        let label = format!("{name} {}/{n}", i + 1);
        let audit = sub
            .audit
            .as_deref()
            .map(|base| audit_path(base, &format!("{name}-{i}"), single));
        let mut run = run_guest(sub, Arc::clone(task), &opts.config, seed, &label, audit)?;
        let checkpoint = write_checkpoint(&run, &out.join(format!("{name}-{i}.safetensors")))?;
        let pool = match (&run.student, weak) {
            (Some(head), Some(weak)) => Some(degeneracy::pool_predictions(head, task, weak)?),
            _ => None,
        };
        run.student = None;
        runs.push(SeedRun {
            seed,
            run,
            checkpoint,
            pool,
        });
    }
    Ok(runs)
}

/// Runs the strategy under every seed (and the controls), writing the
/// checkpoints into `out`. Needs only the public part of the task.
pub(crate) fn sandboxed_phase(
    sub: &Submission,
    view: &TaskView,
    opts: &Options,
    out: &Path,
) -> Result<SandboxedPhase> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let weak = degeneracy::weak_class_fractions(&view.task);
    let runs = seed_runs(sub, &view.task, opts, out, "student", Some(&weak))?;
    let start = Instant::now();
    let controls = if opts.controls {
        let perm_seed = controls::permutation_seed(&opts.seeds.values);
        let mut all = Vec::new();
        for kind in ControlKind::ALL {
            let task = Arc::new(controls::control_task(&view.task, kind, perm_seed)?);
            let runs = seed_runs(
                sub,
                &task,
                opts,
                out,
                &format!("control-{}", kind.name()),
                None,
            )?;
            all.push((kind, runs));
        }
        Some(ControlPhase {
            permutation_seed: perm_seed,
            kinds: all,
        })
    } else {
        None
    };
    Ok(SandboxedPhase {
        runs,
        controls,
        controls_ms: start.elapsed().as_millis() as u64,
    })
}

/// Scores every checkpoint of `phase` in one scorer child process; `None`
/// when no run completed. Returns the verdicts and the wall time.
pub(crate) fn scoring_phase(
    view: &TaskView,
    phase: &SandboxedPhase,
) -> Result<(Option<ScoreSet>, u64)> {
    let checkpoints = phase.checkpoints();
    if phase.runs.iter().all(|r| r.checkpoint.is_none()) {
        return Ok((None, 0));
    }
    let start = Instant::now();
    let set = crate::eval::score_in_child(&view.dir, &checkpoints)?;
    anyhow::ensure!(
        set.students.len() == checkpoints.len(),
        "the scorer returned {} verdicts for {} students",
        set.students.len(),
        checkpoints.len()
    );
    anyhow::ensure!(
        set.task_hash == view.task.task_hash,
        "the scorer read another task ({}) than the run ({})",
        set.task_hash,
        view.task.task_hash
    );
    Ok((Some(set), start.elapsed().as_millis() as u64))
}

/// Builds the report of an evaluation from what its phases produced.
pub(crate) fn assemble(
    sub: &Submission,
    view: &TaskView,
    opts: &Options,
    phase: SandboxedPhase,
    score: Option<ScoreSet>,
    score_ms: u64,
) -> Report {
    // Verdicts come back in checkpoint order: real runs first, then controls.
    let mut verdicts = score.iter().flat_map(|s| s.students.iter());
    let mut next = |r: &SeedRun| r.checkpoint.as_ref().and_then(|_| verdicts.next());
    let real: Vec<(u64, &w2s_scorer::StudentScore)> = phase
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
        let permuted = reports.next().expect("two controls");
        let prior = reports.next().expect("two controls");
        Controls::new(c.permutation_seed, permuted, prior)
    });
    let degeneracy = Degeneracy::check(
        degeneracy::weak_class_fractions(&view.task),
        phase
            .runs
            .iter()
            .filter_map(|r| r.pool.as_ref().map(|p| (r.seed, p))),
    );
    let runs: Vec<RunEntry> = phase.runs.into_iter().map(run_entry).collect();
    let flags = flags::flags(&opts.seeds, &runs, &degeneracy, controls.as_ref());
    let rankable = flags::rankable(&opts.seeds, &runs, scores.is_some());
    let m = &view.task.manifest;
    Report {
        report_format: REPORT_FORMAT,
        versions: Versions::current(),
        wasm: WasmInfo {
            file: sub.wasm_file.clone(),
            sha256: sub.wasm_sha256.clone(),
            bytes: sub.wasm_bytes,
        },
        task: TaskInfo {
            name: m.name.clone(),
            hash: view.task.task_hash.clone(),
            pool: m.splits.pool,
            classes: m.classes,
        },
        policy: sub.policy.clone(),
        seeds: opts.seeds.clone(),
        config: opts.config.clone(),
        device: w2s_train::device::describe(view.task.features.device()),
        gpu: w2s_train::device::gpu_name(view.task.features.device()),
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
