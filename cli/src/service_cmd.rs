//! `w2s serve`, `w2s worker`, `w2s token create`: the evaluation service
//! (crate `w2s-service`). A worker runs each evaluation as a child `w2s eval`
//! of this same executable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use w2s_service::{Quota, ServeConfig, WorkerConfig};

use w2s_eval::Executable;
use w2s_eval::seeds::{DEFAULT_SECRET_FILE, Secret};

use crate::progress::Bars;

/// The default database: one SQLite file.
const DEFAULT_DB: &str = "sqlite://.w2s/service.db";

/// Workers and evaluations: shared by `serve` and `worker`.
#[derive(Args)]
pub(crate) struct WorkerArgs {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`.
    #[arg(long, default_value = DEFAULT_DB)]
    db: String,
    /// Evaluations run at once by this process (each one `w2s eval`).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Working files of running evaluations.
    #[arg(long, default_value = ".w2s/service")]
    data: PathBuf,
    /// The registered tasks: each task bundle directly under this directory,
    /// named after its subdirectory (`default` is generated when missing).
    #[arg(long, default_value = ".w2s/tasks")]
    tasks: PathBuf,
    /// Seeds per evaluation (`w2s eval --seeds`) [default: eval's default].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    seeds: Option<u32>,
    /// Where evaluations train (`w2s eval --device`): `cpu`, or `cuda[:N]`
    /// in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu", value_parser = w2s_train::device::parse_device)]
    device: w2s_train::device::DeviceSpec,
    /// Wall-clock limit of one evaluation, in seconds; then it is killed.
    #[arg(long, default_value_t = 3600)]
    eval_timeout_secs: u64,
    /// Lease of a claimed job, in seconds (renewed every third of it); a
    /// job whose lease expires goes back to the queue.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..))]
    lease_secs: u64,
    /// Generate a missing `default` task from the public generator seed 0,
    /// and run suite jobs on the seeds the suite file lists (development),
    /// instead of seeds derived from the evaluator's secret (the default:
    /// nobody can regenerate a ranking task's test split).
    #[arg(long)]
    public_default_task: bool,
}

/// Arguments of `w2s serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    worker: WorkerArgs,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Competition mode: show public-split figures only.
    #[arg(long)]
    competition: bool,
    /// Largest request body accepted, in bytes (413 above it).
    #[arg(long, default_value_t = 64 << 20)]
    max_body_bytes: usize,
}

/// `w2s token …`.
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create submitter NAME (or update its quotas) and print a new bearer
    /// token for it, alone on one line.
    Create(TokenArgs),
}

/// Arguments of `w2s token create`.
#[derive(Args)]
pub(crate) struct TokenArgs {
    /// The submitter's name (1 to 64 of A-Z a-z 0-9 . _ -).
    name: String,
    /// Database URL.
    #[arg(long, default_value = DEFAULT_DB)]
    db: String,
    /// Submissions accepted per rolling 24 hours.
    #[arg(long, default_value_t = Quota::default().per_day)]
    quota_per_day: i64,
    /// Submissions queued or running at once.
    #[arg(long, default_value_t = Quota::default().concurrent)]
    quota_concurrent: i64,
    /// Largest wasm accepted, in bytes.
    #[arg(long, default_value_t = Quota::default().max_wasm_bytes)]
    quota_wasm_bytes: i64,
}

impl WorkerArgs {
    /// Prepares what every child `w2s eval` shares (the evaluator's secret,
    /// the default task), so that concurrent evaluations never race to
    /// create them, and builds the workers' configuration.
    fn prepare(&self) -> Result<WorkerConfig> {
        let exe = Executable::current()?;
        if self.workers > 0 {
            let secret = Secret::load_or_create(Path::new(DEFAULT_SECRET_FILE))?;
            let dir = self.tasks.join("default");
            if self.public_default_task {
                w2s_eval::task::ensure_default_task(&exe, &dir, &Bars::default())?;
            } else {
                w2s_eval::task::ensure_ranking_default_task(&exe, &dir, &secret, &Bars::default())?;
            }
        }
        Ok(WorkerConfig {
            workers: self.workers,
            data_dir: self.data.clone(),
            tasks_dir: self.tasks.clone(),
            seeds: self.seeds,
            device: self.device.to_string(),
            eval_timeout: Duration::from_secs(self.eval_timeout_secs),
            lease: Duration::from_secs(self.lease_secs),
            exe: exe.path().to_path_buf(),
            secret_task_seeds: !self.public_default_task,
        })
    }
}

/// `w2s serve`.
pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode> {
    let worker = args.worker.prepare()?;
    w2s_service::serve(ServeConfig {
        db_url: args.worker.db.clone(),
        listen: args.listen,
        competition: args.competition,
        max_body_bytes: args.max_body_bytes,
        worker,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `w2s worker`.
pub(crate) fn worker(args: WorkerArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.workers > 0,
        "--workers must be at least 1 for `w2s worker`"
    );
    let config = args.prepare()?;
    w2s_service::work(&args.db, config)?;
    Ok(ExitCode::SUCCESS)
}

/// `w2s token …`.
pub(crate) fn token(cmd: TokenCommand) -> Result<ExitCode> {
    let TokenCommand::Create(a) = cmd;
    for (flag, v) in [
        ("--quota-per-day", a.quota_per_day),
        ("--quota-concurrent", a.quota_concurrent),
        ("--quota-wasm-bytes", a.quota_wasm_bytes),
    ] {
        anyhow::ensure!(v >= 0, "{flag} must not be negative");
    }
    let quota = Quota {
        per_day: a.quota_per_day,
        concurrent: a.quota_concurrent,
        max_wasm_bytes: a.quota_wasm_bytes,
    };
    let token = w2s_service::create_token(&a.db, &a.name, quota)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
