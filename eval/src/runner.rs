//! Starting the confined runner (`w2s-runner`) and reading back what it
//! did.
//!
//! All the sandboxed runs of an evaluation go to one runner process: a
//! fresh, private directory holds its job (and the control tasks' weak
//! labels), and is the only one it may write. It starts with an empty
//! environment but `TMPDIR` (pointing into that directory), the thread
//! count and the allocator's settings ([`w2s_runner::MALLOC_TUNABLES`]). Its
//! progress lines are read with a bound on their length, its result file
//! is checked against the job (one result per run, checkpoints only where
//! the job put them), and the checkpoints and audit logs are copied out to
//! where the evaluation wants them. The runner's output is trusted for
//! what a run did (outcome, usage, output), never for a score: the scorer
//! reads the checkpoints in its own process.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use w2s_confine::Applied;
use w2s_host::{Progress, RunReport};
use w2s_runner::job::{Event, JOB_FILE, Job, JobResult, RESULT_FILE, RunResult, RunSpec};

use crate::compile::Loaded;
use crate::error::{EvalError, Result};
use crate::options::Options;
use crate::progress::ProgressSink;
use crate::submission::Submission;
use crate::task::Task;

/// The environment variable passed through to the runner.
const THREADS_VAR: &str = "RAYON_NUM_THREADS";
/// Time for the runner to start, load the task (and a language model) and
/// write its results, beyond its runs' own deadlines.
const RUNNER_OVERHEAD: Duration = Duration::from_secs(300);
/// How often the runner's deadline is checked.
const POLL: Duration = Duration::from_millis(20);

/// How long the runner may take: its runs' deadlines, twice (a host call
/// runs to its end past a deadline, and checkpoints are written after),
/// and [`RUNNER_OVERHEAD`].
fn deadline(policy: &w2s_policy::Policy, runs: usize) -> Duration {
    let per_run = Duration::from_millis(policy.guest().wall_clock_ms.saturating_mul(2));
    RUNNER_OVERHEAD.saturating_add(per_run.saturating_mul(runs.try_into().unwrap_or(u32::MAX)))
}

/// Reads the child's stdout with `read` while a watchdog kills the child
/// past `limit`, then reaps it. The watchdog stops before the child is
/// reaped, so it never signals a process id that was reused.
fn watched(
    child: &mut std::process::Child,
    limit: Duration,
    read: impl FnOnce(std::process::ChildStdout),
) -> std::result::Result<std::process::ExitStatus, String> {
    let start = std::time::Instant::now();
    let pid = rustix::process::Pid::from_child(child);
    let reading = AtomicBool::new(true);
    let killed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while reading.load(Ordering::Acquire) {
                if start.elapsed() >= limit {
                    killed.store(true, Ordering::Release);
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    return;
                }
                std::thread::sleep(POLL);
            }
        });
        if let Some(stdout) = child.stdout.take() {
            read(stdout);
        }
        reading.store(false, Ordering::Release);
    });
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if killed.load(Ordering::Acquire) {
                return Err(format!("killed past its deadline of {} s", limit.as_secs()));
            }
            return Ok(status);
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed past its deadline of {} s", limit.as_secs()));
        }
        std::thread::sleep(POLL);
    }
}

/// Longest progress line read from the runner; longer ones are skipped.
const MAX_EVENT_BYTES: u64 = 4096;
/// Most bytes of the runner's stderr kept for an error line.
const MAX_STDERR_BYTES: u64 = 4096;

/// One run the evaluation wants.
pub(crate) struct PlannedRun {
    /// Progress label (`student 1/2`).
    pub(crate) label: String,
    /// The run seed.
    pub(crate) seed: u64,
    /// The teacher's probabilities of a control task.
    pub(crate) weak_probs: Option<Vec<f32>>,
    /// Where its checkpoint goes.
    pub(crate) checkpoint: PathBuf,
    /// Where its audit log goes, if one is wanted.
    pub(crate) audit: Option<PathBuf>,
}

/// A run as the runner reported it, and its checkpoint where the
/// evaluation wanted it.
pub(crate) struct FinishedRun {
    pub(crate) run: RunReport,
    pub(crate) checkpoint: Option<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn write_weak_probs(path: &Path, probs: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = probs.iter().flat_map(|p| p.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(io(path))
}

/// Forwards the runner's progress lines to `progress` until its stdout
/// closes.
fn forward_progress(
    stdout: impl Read,
    labels: &[String],
    budget: u64,
    progress: &dyn ProgressSink,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader
            .by_ref()
            .take(MAX_EVENT_BYTES)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) if line.last() != Some(&b'\n') => {
                // Too long: skip to the end of the line.
                let mut rest = Vec::new();
                if reader.read_until(b'\n', &mut rest).is_err() {
                    return;
                }
                continue;
            }
            Ok(_) => {}
        }
        let Ok(event) = serde_json::from_slice::<Event>(&line) else {
            continue;
        };
        let label = |i: usize| labels.get(i).map(String::as_str);
        match event {
            Event::Started { index } => {
                if let Some(l) = label(index) {
                    progress.run_started(l, budget);
                }
            }
            Event::Progress {
                index,
                steps,
                flops,
                flops_budget,
            } => {
                if let Some(l) = label(index) {
                    let p = Progress {
                        steps,
                        flops,
                        flops_budget,
                    };
                    progress.run_progress(l, &p);
                }
            }
            Event::Finished { index } => {
                if let Some(l) = label(index) {
                    progress.run_finished(l);
                }
            }
        }
    }
}

fn first_line(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAX_STDERR_BYTES).read_to_string(&mut text);
    }
    w2s_host::printable(text.lines().next().unwrap_or("").trim())
}

fn report_of(sub: &Submission, seed: u64, r: RunResult) -> Result<RunReport, String> {
    let mut usage = r.usage;
    usage.wall_time = Duration::from_micros(r.wall_time_us);
    let notes = r
        .notes
        .into_iter()
        .map(|n| n.into_note().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let audit = r.audit.into_summary().map_err(|e| e.to_string())?;
    Ok(RunReport {
        outcome: r.outcome,
        student: None,
        lora_student: None,
        metrics: r.metrics,
        metrics_dropped: r.metrics_dropped,
        stdout: r.stdout,
        stderr: r.stderr,
        usage,
        notes,
        audit,
        audit_error: r.audit_error,
        wasm_sha256: sub.wasm_sha256().to_owned(),
        seed,
    })
}

fn copy_out(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).map(|_| ()).map_err(io(to))
}

/// Runs `planned` in one confined runner process: returns how it was
/// confined and each run, in order.
pub(crate) fn run_confined(
    sub: &Submission,
    loaded: &Loaded,
    task: &Task,
    opts: &Options,
    planned: &[PlannedRun],
    progress: &dyn ProgressSink,
) -> Result<(Applied, Vec<FinishedRun>)> {
    let dir = tempfile::Builder::new()
        .prefix("w2s-runner-")
        .tempdir()
        .map_err(|source| EvalError::TempDir { source })?;
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    let mut specs = Vec::with_capacity(planned.len());
    for (i, p) in planned.iter().enumerate() {
        let weak_probs = match &p.weak_probs {
            None => None,
            Some(probs) => {
                let path = dir.path().join(format!("weak-{i}.f32"));
                write_weak_probs(&path, probs)?;
                Some(path)
            }
        };
        specs.push(RunSpec {
            label: p.label.clone(),
            seed: p.seed,
            weak_probs,
            checkpoint: dir.path().join(format!("student-{i}.safetensors")),
            audit: p
                .audit
                .as_ref()
                .map(|_| dir.path().join(format!("audit-{i}.jsonl"))),
        });
    }
    let policy = &sub.policy().effective;
    let job = Job {
        task_dir: task.dir().to_path_buf(),
        device: task.spec(),
        cache_dir: loaded.cache_dir.clone(),
        cache_key: loaded.cache_key.clone(),
        wasm_sha256: sub.wasm_sha256().to_owned(),
        policy: w2s_runner::job::policy_file(policy),
        policy_sha256: policy.sha256(),
        config: opts.config.clone(),
        out_dir: dir.path().to_path_buf(),
        runs: specs.clone(),
        require_confinement: opts.require_confinement,
    };
    let job_path = dir.path().join(JOB_FILE);
    let json = serde_json::to_vec(&job).expect("a job serializes");
    std::fs::write(&job_path, json).map_err(io(&job_path))?;
    let stderr_path = dir.path().join("stderr.txt");
    let stderr = std::fs::File::create(&stderr_path).map_err(io(&stderr_path))?;
    let runner = sub.executable().runner_path();
    let mut cmd = std::process::Command::new(&runner);
    cmd.arg("--job")
        .arg(&job_path)
        .env_clear()
        .env("TMPDIR", &tmp)
        .env(w2s_runner::MALLOC_TUNABLES.0, w2s_runner::MALLOC_TUNABLES.1);
    // The one variable that reaches the runner from the evaluator's
    // environment: the training pool's size (speed only; results are
    // identical at any thread count).
    if let Some(threads) = std::env::var_os(THREADS_VAR) {
        cmd.env(THREADS_VAR, threads);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|source| EvalError::Runner {
            path: runner.clone(),
            reason: source.to_string(),
        })?;
    let labels: Vec<String> = planned.iter().map(|p| p.label.clone()).collect();
    let limit = deadline(policy, planned.len());
    let status = watched(&mut child, limit, |stdout| {
        forward_progress(stdout, &labels, policy.host().compute_flops, progress)
    })
    .map_err(|reason| EvalError::Runner {
        path: runner.clone(),
        reason,
    })?;
    if !status.success() {
        return Err(EvalError::Runner {
            path: runner,
            reason: format!("{status}: {}", first_line(&stderr_path)),
        });
    }
    let result_path = dir.path().join(RESULT_FILE);
    let bytes = std::fs::read(&result_path).map_err(|source| EvalError::Read {
        path: result_path.clone(),
        source,
    })?;
    let result: JobResult = serde_json::from_slice(&bytes).map_err(|e| EvalError::Runner {
        path: runner.clone(),
        reason: format!("its result: {e}"),
    })?;
    if result.runs.len() != planned.len() {
        return Err(EvalError::Runner {
            path: runner,
            reason: format!("{} results for {} runs", result.runs.len(), planned.len()),
        });
    }
    let mut finished = Vec::with_capacity(planned.len());
    for ((p, spec), r) in planned.iter().zip(&specs).zip(result.runs) {
        let checkpoint = match &r.checkpoint {
            None => None,
            Some(path) if *path == spec.checkpoint => {
                copy_out(path, &p.checkpoint)?;
                Some(p.checkpoint.clone())
            }
            Some(other) => {
                return Err(EvalError::Runner {
                    path: runner,
                    reason: format!("a checkpoint outside its job: {}", other.display()),
                });
            }
        };
        if let (Some(from), Some(to)) = (&spec.audit, &p.audit)
            && from.exists()
        {
            copy_out(from, to)?;
        }
        let run = report_of(sub, p.seed, r).map_err(|reason| EvalError::Runner {
            path: runner.clone(),
            reason,
        })?;
        finished.push(FinishedRun { run, checkpoint });
    }
    Ok((result.confinement, finished))
}
