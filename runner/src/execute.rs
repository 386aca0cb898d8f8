//! Doing a job, once confined: open the public part of the task, load the
//! compiled component from the cache, run it under every seed, write each
//! student as a checkpoint.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use w2s_confine::Applied;
use w2s_host::{ArtifactCache, Lookup, Progress, RunReport, Sandbox, Strategy};
use w2s_train::bundle::PublicTask;

use crate::error::RunnerError;
use crate::job::{Event, Job, JobResult, RunResult, RunSpec};
use crate::wire::{AuditWire, NoteWire};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunnerError + '_ {
    move |source| RunnerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sends one progress line (a closed stdout only loses progress).
fn emit(out: &mut dyn Write, event: &Event) {
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn load(job: &Job, sandbox: &Sandbox) -> Result<Strategy, RunnerError> {
    let cache = ArtifactCache::new(&job.cache_dir);
    let component = match cache.get(sandbox, &job.cache_key) {
        Lookup::Hit(c) => c,
        Lookup::Miss => {
            return Err(RunnerError::Job {
                reason: "the compiled component is not in the cache".to_owned(),
            });
        }
        Lookup::Invalid(reason) => return Err(RunnerError::Job { reason }),
    };
    Ok(sandbox.load_compiled(component, job.wasm_sha256.clone())?)
}

fn weak_probs(path: &Path) -> Result<Vec<f32>, RunnerError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    if bytes.len() % 4 != 0 {
        return Err(RunnerError::Job {
            reason: format!("{} is not a list of f32", path.display()),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn write_checkpoint(
    run: &RunReport,
    task: &PublicTask,
    path: &Path,
) -> Result<Option<std::path::PathBuf>, RunnerError> {
    let bytes = match (&run.student, &run.lora_student, &task.manifest.lm) {
        (Some(head), _, _) => w2s_train::checkpoint::to_bytes(head)?,
        (None, Some(lora), Some(lm)) => {
            w2s_train::checkpoint::lora_to_bytes(lora, &lm.fingerprint())?
        }
        _ => return Ok(None),
    };
    std::fs::write(path, bytes).map_err(io_err(path))?;
    Ok(Some(path.to_path_buf()))
}

fn one_run(
    sandbox: &Sandbox,
    strategy: &Strategy,
    task: Arc<PublicTask>,
    config: &str,
    (index, spec): (usize, &RunSpec),
    out: &mut dyn Write,
) -> Result<RunResult, RunnerError> {
    emit(out, &Event::Started { index });
    let run = {
        let mut on_progress = |p: Progress| {
            let event = Event::Progress {
                index,
                steps: p.steps,
                flops: p.flops,
                flops_budget: p.flops_budget,
            };
            emit(out, &event);
        };
        let task = Arc::clone(&task);
        match &spec.audit {
            None => sandbox.run(strategy, task, config, spec.seed, &mut on_progress),
            Some(path) => {
                let file = std::fs::File::create(path).map_err(io_err(path))?;
                let log = Box::new(std::io::BufWriter::new(file));
                sandbox.run_audited(strategy, task, config, spec.seed, &mut on_progress, log)
            }
        }
    };
    let checkpoint = write_checkpoint(&run, &task, &spec.checkpoint)?;
    emit(out, &Event::Finished { index });
    Ok(RunResult {
        wall_time_us: run.usage.wall_time.as_micros() as u64,
        outcome: run.outcome,
        metrics: run.metrics,
        metrics_dropped: run.metrics_dropped,
        stdout: run.stdout,
        stderr: run.stderr,
        usage: run.usage,
        notes: run.notes.iter().map(NoteWire::from).collect(),
        audit: AuditWire::from(&run.audit),
        audit_error: run.audit_error,
        checkpoint,
    })
}

/// Runs every run of `job` (the process is confined already, as
/// `confinement` says), sending progress lines to `out`.
pub fn run_job(
    job: &Job,
    confinement: Applied,
    out: &mut dyn Write,
) -> Result<JobResult, RunnerError> {
    let policy = job.policy()?;
    let device = job.device.open()?;
    let task = Arc::new(PublicTask::open(&job.task_dir, &device)?);
    let sandbox = Sandbox::new(policy)?;
    let strategy = load(job, &sandbox)?;
    let mut runs = Vec::with_capacity(job.runs.len());
    for (index, spec) in job.runs.iter().enumerate() {
        let run_task = match &spec.weak_probs {
            None => Arc::clone(&task),
            Some(path) => Arc::new(task.with_weak_probs(weak_probs(path)?)?),
        };
        let result = one_run(
            &sandbox,
            &strategy,
            run_task,
            &job.config,
            (index, spec),
            out,
        )?;
        runs.push(result);
    }
    Ok(JobResult { confinement, runs })
}
