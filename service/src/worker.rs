//! Workers: claim a job, run `w2s eval` on it as a child process in its own
//! process group (its own sandbox; it starts the scorer as its own child),
//! renew the lease while it runs, kill the group on timeout or when the
//! lease is lost, and complete the job from the report it wrote.
//!
//! The service's own process never runs guest code: its memory is the HTTP
//! server and the queue; each running evaluation is one `w2s eval` process
//! bounded by the sandbox policy (guest memory, host tensor bytes), so the
//! machine's memory is bounded by `workers` times that per-evaluation bound.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::db::Db;
use crate::metrics::Metrics;
use crate::store::jobs::{self, Claim, Outcome};
use crate::store::submissions;
use crate::{Error, summary, tasks};

/// How the workers of one process run evaluations.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Evaluations run at once by this process.
    pub workers: usize,
    /// Where each evaluation's files go (`work/ID-ATTEMPT/`, removed after).
    pub data_dir: PathBuf,
    /// The registered tasks (src/tasks.rs).
    pub tasks_dir: PathBuf,
    /// `--seeds N` for `w2s eval` (`None`: its default).
    pub seeds: Option<u32>,
    /// `--device` for `w2s eval`: `cpu`, `cuda` or `cuda:N` (checked by the
    /// `w2s` command line that builds this).
    pub device: String,
    /// Wall-clock limit of one evaluation; the process group is killed then.
    pub eval_timeout: Duration,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// The `w2s` executable that runs `eval`.
    pub exe: PathBuf,
    /// Whether suite jobs run with `--secret-task-seeds` (tasks nobody
    /// without the evaluator's secret can regenerate: ranking); `false`
    /// only for development (`--public-default-task`).
    pub secret_task_seeds: bool,
}

/// Idle workers look for a job this often.
const POLL: Duration = Duration::from_millis(250);

/// Stderr kept from a failed evaluation for its `error` field.
const STDERR_KEPT: usize = 2000;

/// This process's worker ids start with `HOST:PID:`.
fn id_prefix() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{host}:{}:", std::process::id())
}

/// Whether a lease owner id names a process of this machine that is gone.
fn owner_is_dead(owner: &str) -> bool {
    let mut parts = owner.splitn(3, ':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let here = id_prefix();
    let this_host = here.split(':').next().unwrap_or_default();
    host == this_host
        && pid
            .parse::<u32>()
            .is_ok_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists())
}

/// Starts `config.workers` workers on the current runtime; they run until
/// the process ends. First expires the leases held by dead processes of
/// this machine (a killed server's), so those jobs are claimed again now.
pub(crate) async fn spawn_workers(
    db: Db,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
) -> Result<(), Error> {
    let n = jobs::expire_dead(&db, owner_is_dead).await?;
    if n > 0 {
        eprintln!(
            "w2s-service: {n} job(s) held by dead workers of this machine go back to the queue"
        );
    }
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::Invalid(format!("the OS random source failed: {e}")))?;
    for i in 0..config.workers {
        let id = format!("{}{}:{}", id_prefix(), i, hex::encode(nonce));
        tokio::spawn(worker_loop(db.clone(), config.clone(), metrics.clone(), id));
    }
    Ok(())
}

async fn worker_loop(db: Db, config: WorkerConfig, metrics: Arc<Metrics>, id: String) {
    let lease_ms = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        if let Err(e) = jobs::requeue_expired(&db).await {
            eprintln!("w2s-service: worker {id}: requeueing expired leases: {e}");
        }
        match jobs::claim(&db, &id, lease_ms).await {
            Ok(Some(claim)) => {
                metrics.eval_started();
                let started = Instant::now();
                let outcome = run_job(&db, &config, &id, &claim).await;
                metrics.eval_finished(started.elapsed());
                if let Some(outcome) = outcome {
                    match jobs::complete(&db, &claim, &id, &outcome).await {
                        Ok(true) => {}
                        Ok(false) => eprintln!(
                            "w2s-service: job {} attempt {}: lease lost, result dropped",
                            claim.id, claim.attempt
                        ),
                        Err(e) => eprintln!("w2s-service: job {}: completing: {e}", claim.id),
                    }
                }
            }
            Ok(None) => tokio::time::sleep(POLL).await,
            Err(e) => {
                eprintln!("w2s-service: worker {id}: claiming: {e}");
                tokio::time::sleep(POLL * 4).await;
            }
        }
    }
}

/// Runs one job; `None` when the lease was lost (nothing to write).
async fn run_job(db: &Db, config: &WorkerConfig, worker: &str, claim: &Claim) -> Option<Outcome> {
    let work = config
        .data_dir
        .join("work")
        .join(format!("{}-{}", claim.id, claim.attempt));
    let result = run_in(db, config, worker, claim, &work).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    match result {
        Ok(outcome) => outcome,
        Err(e) => Some(Outcome::Failed(format!(
            "the service could not run the evaluation: {e}"
        ))),
    }
}

async fn run_in(
    db: &Db,
    config: &WorkerConfig,
    worker: &str,
    claim: &Claim,
    work: &Path,
) -> Result<Option<Outcome>, Error> {
    tokio::fs::create_dir_all(work)
        .await
        .map_err(|e| Error::io("cannot create", work, e))?;
    let wasm = work.join("submission.wasm");
    tokio::fs::write(&wasm, &claim.wasm)
        .await
        .map_err(|e| Error::io("cannot write", &wasm, e))?;
    let report = work.join("report.json");
    let mut cmd = Command::new(&config.exe);
    // The guest runs confined, or not at all: a kernel without a layer is
    // an evaluation error here, not a note in the report.
    cmd.arg("eval")
        .arg(&wasm)
        .arg("--json")
        .arg(&report)
        .arg("--require-confinement");
    if claim.suite {
        cmd.arg("--suite");
        if config.secret_task_seeds {
            cmd.arg("--secret-task-seeds");
        }
    } else {
        let Some(dir) = tasks::task_dir(&config.tasks_dir, &claim.task) else {
            return Ok(Some(Outcome::Failed(format!(
                "invalid task name {:?}",
                claim.task
            ))));
        };
        cmd.arg("--task").arg(dir);
    }
    if !claim.config.is_empty() {
        cmd.arg("--config").arg(&claim.config);
    }
    if let Some(n) = config.seeds {
        cmd.arg("--seeds").arg(n.to_string());
    }
    cmd.arg("--device").arg(&config.device);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // A server that stops (SIGTERM) takes its evaluations with it.
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("cannot start", &config.exe, e))?;
    let pgid = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32));
    let kill_group = || {
        if let Some(pgid) = pgid {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    };
    let mut stderr = child.stderr.take();
    let stderr_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf).await;
        }
        buf
    });
    let deadline = tokio::time::Instant::now() + config.eval_timeout;
    let lease_ms = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
    let mut beat = tokio::time::interval(config.lease / 3);
    beat.tick().await;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| Error::io("waiting for", &config.exe, e))?,
            _ = tokio::time::sleep_until(deadline) => {
                kill_group();
                let _ = child.wait().await;
                return Ok(Some(Outcome::Failed(format!(
                    "the evaluation ran past the service's limit of {} s and was killed",
                    config.eval_timeout.as_secs()
                ))));
            }
            _ = beat.tick() => {
                match jobs::heartbeat(db, claim, worker, lease_ms).await {
                    Ok(true) => {}
                    Ok(false) => {
                        kill_group();
                        let _ = child.wait().await;
                        return Ok(None);
                    }
                    // A database hiccup: keep running; the lease may still hold.
                    Err(e) => eprintln!("w2s-service: job {}: heartbeat: {e}", claim.id),
                }
            }
        }
    };
    // The eval's own children (the scorer) are in its group: none may outlive it.
    kill_group();
    let err = stderr_task.await.unwrap_or_default();
    match tokio::fs::read_to_string(&report).await {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) => {
                let row = submissions::get(db, &claim.id).await?;
                let (name, submitter) = row.map(|r| (r.name, r.submitter)).unwrap_or_default();
                Ok(Some(Outcome::Done {
                    summary: summary::stored_summary(&value).to_string(),
                    entry: summary::entry(&value, &claim.task, &name, &submitter),
                    report: text,
                }))
            }
            Err(e) => Ok(Some(Outcome::Failed(format!(
                "the evaluation wrote an unreadable report: {e}"
            )))),
        },
        Err(_) => Ok(Some(Outcome::Failed(format!(
            "the evaluation exited with {status} and wrote no report: {}",
            tail(&err)
        )))),
    }
}

/// The last [`STDERR_KEPT`] bytes of `bytes`, as text.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let mut start = text.len().saturating_sub(STDERR_KEPT);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
