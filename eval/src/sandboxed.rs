//! The third stage: the sandboxed runs, in the confined runner process
//! ([`crate::runner`]), on the public part of the task only.
//!
//! The strategy runs once per seed, then, with controls, once per seed on
//! each control task ([`crate::controls`]), all in one `w2s-runner`
//! process. Each completed student comes back as a checkpoint (for the
//! scorer process), which this process reads to check the student for
//! degeneracy on the pool ([`crate::degeneracy`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use w2s_confine::Applied;
use w2s_host::{Outcome, RunReport};
use w2s_train::bundle::PublicTask;

use crate::controls::{self, ControlKind};
use crate::degeneracy::{self, PoolPredictions};
use crate::error::{EvalError, Result};
use crate::options::Options;
use crate::progress::ProgressSink;
use crate::runner::{self, FinishedRun, PlannedRun};
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

/// The control runs: the seeds of their permutations, and each control's
/// runs.
pub(crate) struct ControlPhase {
    pub(crate) inputs: controls::ControlInputs,
    pub(crate) kinds: Vec<(ControlKind, Vec<SeedRun>)>,
}

/// Everything the sandboxed runs produced.
pub(crate) struct SandboxedPhase {
    pub(crate) runs: Vec<SeedRun>,
    pub(crate) controls: Option<ControlPhase>,
    pub(crate) controls_ms: u64,
    /// How the runner was confined (`None`: no runner started, the
    /// component was refused).
    pub(crate) confinement: Option<Applied>,
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

/// The pool predictions of the student in `checkpoint` (read back from
/// the file the runner wrote, not taken from the runner's word).
fn pool_of(checkpoint: &Path, task: &PublicTask, weak: &[f64]) -> Result<Option<PoolPredictions>> {
    let bytes = std::fs::read(checkpoint).map_err(|source| EvalError::Read {
        path: checkpoint.to_path_buf(),
        source,
    })?;
    let checkpoint_err = |source| EvalError::Checkpoint { source };
    if w2s_train::checkpoint::is_lora(&bytes) {
        let (Some(lm), Some(backbone)) = (&task.manifest.lm, &task.backbone) else {
            return Ok(None);
        };
        let student =
            w2s_train::checkpoint::lora_from_bytes(&bytes, Arc::clone(backbone), &lm.fingerprint())
                .map_err(checkpoint_err)?;
        return degeneracy::lora_pool_predictions(&student, task, weak);
    }
    let head = w2s_train::checkpoint::from_bytes(&bytes, task.features.device())
        .map_err(checkpoint_err)?;
    Ok(Some(degeneracy::pool_predictions(&head, task, weak)?))
}

/// The runs of one group (the real task, or one control), planned.
struct Group {
    name: String,
    weak_probs: Option<Vec<f32>>,
}

fn plan(
    sub: &Submission,
    groups: &[Group],
    seeds: &SeedPlan,
    single: bool,
    out: &Path,
) -> Vec<PlannedRun> {
    let n = seeds.values.len();
    let mut planned = Vec::with_capacity(groups.len() * n);
    for g in groups {
        for (i, &seed) in seeds.values.iter().enumerate() {
            planned.push(PlannedRun {
                label: format!("{} {}/{n}", g.name, i + 1),
                seed,
                weak_probs: g.weak_probs.clone(),
                checkpoint: out.join(format!("{}-{i}.safetensors", g.name)),
                audit: sub
                    .audit()
                    .map(|base| audit_path(base, &format!("{}-{i}", g.name), single)),
            });
        }
    }
    planned
}

/// Runs the strategy under every seed (and the controls) in one confined
/// runner process, writing the checkpoints into `out`. Needs only the
/// public part of the task.
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
    let mut groups = vec![Group {
        name: "student".to_owned(),
        weak_probs: None,
    }];
    let inputs = controls::ControlInputs::for_seeds(&seeds.values);
    if opts.controls {
        for kind in ControlKind::ALL {
            let control = controls::control_task(task.public(), kind, inputs)?;
            groups.push(Group {
                name: format!("control-{}", kind.name()),
                weak_probs: Some(control.weak_probs),
            });
        }
    }
    let single = seeds.values.len() == 1 && !opts.controls;
    let planned = plan(sub, &groups, seeds, single, out);
    let (confinement, finished) = match &sub.loaded {
        Ok(loaded) => {
            let (applied, runs) =
                runner::run_confined(sub, loaded, task, opts, &planned, progress)?;
            for (p, r) in planned.iter().zip(&runs) {
                if let (Some(path), Some(e)) = (&p.audit, &r.run.audit_error) {
                    return Err(EvalError::AuditLog {
                        path: path.clone(),
                        reason: e.to_string(),
                    });
                }
            }
            (Some(applied), runs)
        }
        Err((outcome, _)) => {
            let runs = planned
                .iter()
                .map(|p| FinishedRun {
                    run: refused(outcome.clone(), sub.wasm_sha256(), p.seed),
                    checkpoint: None,
                })
                .collect();
            (None, runs)
        }
    };
    let weak = degeneracy::weak_class_fractions(task.public());
    let n = seeds.values.len();
    let mut finished = finished.into_iter();
    let mut runs = Vec::with_capacity(n);
    for r in finished.by_ref().take(n) {
        let pool = match &r.checkpoint {
            Some(path) => pool_of(path, task.public(), &weak)?,
            None => None,
        };
        runs.push(SeedRun {
            seed: r.run.seed,
            run: r.run,
            checkpoint: r.checkpoint,
            pool,
        });
    }
    let mut controls_ms = 0;
    let controls = opts.controls.then(|| {
        let kinds = ControlKind::ALL
            .into_iter()
            .map(|kind| {
                let runs: Vec<SeedRun> = finished
                    .by_ref()
                    .take(n)
                    .map(|r| {
                        controls_ms += r.run.usage.wall_time.as_millis() as u64;
                        SeedRun {
                            seed: r.run.seed,
                            run: r.run,
                            checkpoint: r.checkpoint,
                            pool: None,
                        }
                    })
                    .collect();
                (kind, runs)
            })
            .collect();
        ControlPhase { inputs, kinds }
    });
    Ok(SandboxedPhase {
        runs,
        controls,
        controls_ms,
        confinement,
    })
}
