//! `w2s eval` and `w2s run`.
//!
//! Process layout: this process loads the component and runs it in the
//! sandbox over the *public* part of the task only. The student it returns
//! is written as a checkpoint, and a child process (`w2s score`, the same
//! executable) scores it; that child is the only process that opens
//! `heldout/`. A test runs `w2s run` on a copy of a bundle whose `heldout/`
//! was deleted to prove the first half never needs it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use w2s_host::{Limits, Outcome, Progress, RunReport, Sandbox, Strategy};
use w2s_scorer::ScoreReport;
use w2s_train::bundle::PublicTask;
use w2s_train::rng::derive_seed;

use crate::progress;
use crate::report::{OutcomeInfo, REPORT_FORMAT, Report, TaskInfo, Timing, Versions, WasmInfo};

/// Arguments shared by `eval` and `run`.
#[derive(Args)]
pub(crate) struct CommonArgs {
    /// The strategy: a wasm32-wasip2 component.
    wasm: PathBuf,
    /// The task bundle [default: .w2s/tasks/default, generated when missing].
    #[arg(long)]
    task: Option<PathBuf>,
    /// Run seed. By default the host derives it from the wasm's and the
    /// task's hashes: a strategy never picks its own.
    #[arg(long)]
    seed: Option<u64>,
    /// Config string passed to the strategy's `run`.
    #[arg(long, default_value = "")]
    config: String,
}

/// Arguments of `w2s eval`.
#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Also write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the run's files (student checkpoint) in this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `w2s run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Directory for `student.safetensors` and `run.json`.
    #[arg(long)]
    out: PathBuf,
}

struct Prepared {
    wasm_path: PathBuf,
    wasm_bytes: u64,
    task_dir: PathBuf,
    task: Arc<PublicTask>,
    strategy: Strategy,
    sandbox: Sandbox,
    seed: u64,
    seed_source: &'static str,
    limits: Limits,
}

fn prepare(args: &CommonArgs, generate_default: bool) -> Result<Prepared> {
    let task_dir = match &args.task {
        Some(dir) => dir.clone(),
        None => {
            let dir = crate::default_task_dir();
            if generate_default {
                crate::task_cmd::ensure_default_task(&dir)?;
            }
            dir
        }
    };
    let limits = Limits::default();
    let sandbox = Sandbox::new(limits.clone()).context("cannot set up the sandbox")?;
    let bytes = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let strategy = sandbox
        .load(&bytes)
        .with_context(|| format!("{}", args.wasm.display()))?;
    let task =
        PublicTask::open(&task_dir, &candle_core::Device::Cpu).context("cannot open the task")?;
    let (seed, seed_source) = match args.seed {
        Some(s) => (s, "flag"),
        None => (
            derive_seed(0, &format!("{}:{}", strategy.wasm_sha256(), task.task_hash)),
            "derived from wasm and task hashes",
        ),
    };
    Ok(Prepared {
        wasm_path: args.wasm.clone(),
        wasm_bytes: bytes.len() as u64,
        task_dir,
        task: Arc::new(task),
        strategy,
        sandbox,
        seed,
        seed_source,
        limits,
    })
}

fn run_guest(p: &Prepared, config: &str) -> RunReport {
    let bar = progress::compute_bar("strategy", p.limits.compute_flops);
    let report = p.sandbox.run(
        &p.strategy,
        Arc::clone(&p.task),
        config,
        p.seed,
        &mut |pr: Progress| {
            bar.set_message(format!(
                "{} steps, {:.2} GFLOP",
                pr.steps,
                pr.flops as f64 / 1e9
            ));
            bar.tick();
        },
    );
    bar.finish_and_clear();
    report
}

fn write_checkpoint(run: &RunReport, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(student) = &run.student else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("student.safetensors");
    let bytes = w2s_train::checkpoint::to_bytes(student).context("cannot serialize the student")?;
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(path))
}

/// Starts `w2s score` as a child process and reads its JSON verdict.
fn score_in_child(task_dir: &Path, checkpoint: &Path) -> Result<ScoreReport> {
    let exe = std::env::current_exe().context("cannot locate the w2s executable")?;
    let output = Command::new(exe)
        .arg("score")
        .arg("--task")
        .arg(task_dir)
        .arg("--checkpoint")
        .arg(checkpoint)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start the scorer process")?;
    if !output.status.success() {
        bail!("the scorer process failed ({})", output.status);
    }
    serde_json::from_slice(&output.stdout)
        .context("the scorer process printed an unreadable report")
}

fn build_report(
    p: &Prepared,
    run: RunReport,
    config: &str,
    score: Option<ScoreReport>,
    score_ms: u64,
) -> Report {
    let m = &p.task.manifest;
    Report {
        report_format: REPORT_FORMAT,
        versions: Versions::current(),
        wasm: WasmInfo {
            file: p
                .wasm_path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: run.wasm_sha256.clone(),
            bytes: p.wasm_bytes,
        },
        task: TaskInfo {
            name: m.name.clone(),
            hash: p.task.task_hash.clone(),
            pool: m.splits.pool,
            classes: m.classes,
        },
        seed: run.seed,
        seed_source: p.seed_source,
        config: config.to_owned(),
        device: "cpu".to_owned(),
        limits: p.limits.clone(),
        outcome: OutcomeInfo {
            code: run.outcome.code(),
            message: run.outcome.message(),
            detail: run.outcome.clone(),
        },
        timing: Timing {
            run_ms: run.usage.wall_time.as_millis() as u64,
            score_ms,
        },
        usage: run.usage,
        metrics: run.metrics,
        metrics_dropped: run.metrics_dropped,
        stdout: run.stdout,
        stderr: run.stderr,
        score,
    }
}

pub(crate) fn eval(args: EvalArgs) -> Result<ExitCode> {
    let p = prepare(&args.common, true)?;
    let run = run_guest(&p, &args.common.config);
    let tmp;
    let out_dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let completed = matches!(run.outcome, Outcome::Completed);
    let (score, score_ms) = match write_checkpoint(&run, &out_dir)? {
        Some(ckpt) if completed => {
            let start = Instant::now();
            let s = score_in_child(&p.task_dir, &ckpt)?;
            (Some(s), start.elapsed().as_millis() as u64)
        }
        _ => (None, 0),
    };
    let report = build_report(&p, run, &args.common.config, score, score_ms);
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.score.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub(crate) fn run_only(args: RunArgs) -> Result<ExitCode> {
    if args.common.task.is_none() {
        bail!("`w2s run` needs --task DIR");
    }
    let p = prepare(&args.common, false)?;
    let run = run_guest(&p, &args.common.config);
    let ckpt = write_checkpoint(&run, &args.out)?;
    let report = build_report(&p, run, &args.common.config, None, 0);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let path = args.out.join("run.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "outcome {}: {}",
        report.outcome.code, report.outcome.message
    );
    if let Some(ckpt) = ckpt {
        println!("student written to {}", ckpt.display());
    }
    Ok(if report.outcome.code == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
