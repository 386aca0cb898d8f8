//! The third stage: the sandboxed runs, in this process, on the public
//! part of the task only.
//!
//! The strategy runs once per seed, then, with controls, once per seed on
//! each control task ([`crate::controls`]). Each completed student is
//! written as a checkpoint (for the scorer process) and checked for
//! degeneracy on the pool ([`crate::degeneracy`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use w2s_host::{Outcome, Progress, RunReport};
use w2s_train::bundle::PublicTask;

use crate::controls::{self, ControlKind};
use crate::degeneracy::{self, PoolPredictions};
use crate::error::{EvalError, Result};
use crate::options::Options;
use crate::progress::ProgressSink;
use crate::seeds::SeedPlan;
use crate::submission::Submission;
use crate::task::Task;

/// One sandboxed run, its student saved.
pub(crate) struct SeedRun {
    pub(crate) seed: u64,
    pub(crate) run: RunReport,
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) pool: Option<PoolPredictions>,
}

/// The control runs: the permutation's seed, and each control's runs.
pub(crate) struct ControlPhase {
    pub(crate) permutation_seed: u64,
    pub(crate) kinds: Vec<(ControlKind, Vec<SeedRun>)>,
}

/// Everything the sandboxed runs produced.
pub(crate) struct SandboxedPhase {
    pub(crate) runs: Vec<SeedRun>,
    pub(crate) controls: Option<ControlPhase>,
    pub(crate) controls_ms: u64,
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

    /// Whether some real run wrote a checkpoint (so there is something to
    /// score).
    pub(crate) fn any_student(&self) -> bool {
        self.runs.iter().any(|r| r.checkpoint.is_some())
    }
}

/// The report of a run that never started: the sandbox refused the
/// component.
fn refused(outcome: Outcome, wasm_sha256: &str, seed: u64) -> RunReport {
    RunReport {
        outcome,
        student: None,
        lora_student: None,
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

/// One run of the strategy.
struct GuestRun<'a> {
    task: Arc<PublicTask>,
    config: &'a str,
    seed: u64,
    label: &'a str,
    audit: Option<PathBuf>,
}

fn run_guest(sub: &Submission, g: GuestRun<'_>, progress: &dyn ProgressSink) -> Result<RunReport> {
    let loaded = match &sub.loaded {
        Ok(l) => l,
        Err((outcome, _)) => return Ok(refused(outcome.clone(), sub.wasm_sha256(), g.seed)),
    };
    progress.run_started(g.label, sub.policy().effective.host().compute_flops);
    let mut on_progress = |pr: Progress| progress.run_progress(g.label, &pr);
    let report = match g.audit {
        None => sub
            .sandbox
            .run(&loaded.strategy, g.task, g.config, g.seed, &mut on_progress),
        Some(path) => {
            let file = std::fs::File::create(&path).map_err(|source| EvalError::Create {
                path: path.clone(),
                source,
            })?;
            let out = Box::new(std::io::BufWriter::new(file));
            let r = sub.sandbox.run_audited(
                &loaded.strategy,
                g.task,
                g.config,
                g.seed,
                &mut on_progress,
                out,
            );
            if let Some(e) = &r.audit_error {
                return Err(EvalError::AuditLog {
                    path,
                    reason: e.to_string(),
                });
            }
            r
        }
    };
    progress.run_finished(g.label);
    Ok(report)
}

fn write_checkpoint(run: &RunReport, task: &PublicTask, path: &Path) -> Result<Option<PathBuf>> {
    let bytes = match (&run.student, &run.lora_student, &task.manifest.lm) {
        (Some(head), _, _) => w2s_train::checkpoint::to_bytes(head),
        (None, Some(lora), Some(lm)) => {
            w2s_train::checkpoint::lora_to_bytes(lora, &lm.fingerprint())
        }
        _ => return Ok(None),
    }
    .map_err(|source| EvalError::Checkpoint { source })?;
    std::fs::write(path, bytes).map_err(|source| EvalError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(path.to_path_buf()))
}

/// Where the runs of one evaluation go, and what they share.
struct Batch<'a> {
    sub: &'a Submission,
    seeds: &'a SeedPlan,
    opts: &'a Options,
    out: &'a Path,
    progress: &'a dyn ProgressSink,
}

impl Batch<'_> {
    /// The strategy under every seed on `task`; `weak` (the teacher's class
    /// distribution) turns on the degeneracy checks.
    fn seed_runs(
        &self,
        task: &Arc<PublicTask>,
        name: &str,
        weak: Option<&[f64]>,
    ) -> Result<Vec<SeedRun>> {
        let n = self.seeds.values.len();
        let single = n == 1 && !self.opts.controls;
        let mut runs = Vec::with_capacity(n);
        for (i, &seed) in self.seeds.values.iter().enumerate() {
            let label = format!("{name} {}/{n}", i + 1);
            let audit = self
                .sub
                .audit()
                .map(|base| audit_path(base, &format!("{name}-{i}"), single));
            let guest = GuestRun {
                task: Arc::clone(task),
                config: &self.opts.config,
                seed,
                label: &label,
                audit,
            };
            let mut run = run_guest(self.sub, guest, self.progress)?;
            let path = self.out.join(format!("{name}-{i}.safetensors"));
            let checkpoint = write_checkpoint(&run, task, &path)?;
            let pool = match (&run.student, &run.lora_student, weak) {
                (Some(head), _, Some(weak)) => {
                    Some(degeneracy::pool_predictions(head, task, weak)?)
                }
                (None, Some(lora), Some(weak)) => {
                    degeneracy::lora_pool_predictions(lora, task, weak)?
                }
                _ => None,
            };
            run.student = None;
            run.lora_student = None;
            runs.push(SeedRun {
                seed,
                run,
                checkpoint,
                pool,
            });
        }
        Ok(runs)
    }
}

/// Runs the strategy under every seed (and the controls), writing the
/// checkpoints into `out`. Needs only the public part of the task.
pub(crate) fn run_all(
    sub: &Submission,
    task: &Task,
    seeds: &SeedPlan,
    opts: &Options,
    out: &Path,
    progress: &dyn ProgressSink,
) -> Result<SandboxedPhase> {
    std::fs::create_dir_all(out).map_err(|source| EvalError::Create {
        path: out.to_path_buf(),
        source,
    })?;
    let batch = Batch {
        sub,
        seeds,
        opts,
        out,
        progress,
    };
    let weak = degeneracy::weak_class_fractions(task.public());
    let runs = batch.seed_runs(task.public(), "student", Some(&weak))?;
    let start = Instant::now();
    let controls = if opts.controls {
        let perm_seed = controls::permutation_seed(&seeds.values);
        let mut all = Vec::new();
        for kind in ControlKind::ALL {
            let control = Arc::new(controls::control_task(task.public(), kind, perm_seed)?);
            let runs = batch.seed_runs(&control, &format!("control-{}", kind.name()), None)?;
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
