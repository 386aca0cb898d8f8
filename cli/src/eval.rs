//! `w2s eval` and `w2s run`.
//!
//! Process layout: this process loads the component (compiled in a
//! `w2s compile` child, see [`crate::compile_cmd`]) and runs it in the
//! sandbox over the *public* part of the task only. The student it returns
//! is written as a checkpoint, and a child process (`w2s score`, the same
//! executable) scores it; that child is the only process that opens
//! `heldout/`. A test runs `w2s run` on a copy of a bundle whose `heldout/`
//! was deleted to prove the first half never needs it.
//!
//! A component the sandbox refuses (an import the policy denies, a module
//! that does not compile or is too large) is the strategy's outcome, not
//! bad input: one `error:` line, a report with outcome `import-denied` or
//! `invalid-module` (`--json`, or `run.json`), exit status 2.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use sha2::{Digest, Sha256};
use w2s_host::{Outcome, Progress, RunReport, Sandbox};
use w2s_scorer::ScoreReport;
use w2s_train::bundle::PublicTask;
use w2s_train::rng::derive_seed;

use crate::compile_cmd::{self, Loaded};
use crate::policy_cmd::{self, PolicyInfo};
use crate::progress;
use crate::report::{Report, RunFacts};

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
    /// The sandbox policy (TOML, version 1) [default: the built-in policy,
    /// identical to examples/policies/default.toml].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Write the audit log here: one JSON line per host call, then a
    /// summary (see docs/POLICY.md).
    #[arg(long, value_name = "OUT.jsonl")]
    audit: Option<PathBuf>,
    /// Directory of compiled components, keyed by the wasm's sha256 and the
    /// engine configuration.
    #[arg(long, default_value = ".w2s/cache/compiled")]
    cache_dir: PathBuf,
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

/// Everything about a run that is known before it starts.
struct Prepared {
    wasm_path: PathBuf,
    wasm_bytes: u64,
    wasm_sha256: String,
    task_dir: PathBuf,
    task: Arc<PublicTask>,
    sandbox: Sandbox,
    seed: u64,
    seed_source: &'static str,
    policy: PolicyInfo,
    /// The loaded strategy, or the outcome and error line of a refused one.
    loaded: Result<Loaded, (Outcome, String)>,
}

fn prepare(args: &CommonArgs, generate_default: bool) -> Result<Prepared> {
    let policy = policy_cmd::effective(args.policy.as_deref())?;
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
    let sandbox = Sandbox::new(policy.effective.clone()).context("cannot set up the sandbox")?;
    let bytes = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let wasm_sha256 = hex::encode(Sha256::digest(&bytes));
    let task =
        PublicTask::open(&task_dir, &candle_core::Device::Cpu).context("cannot open the task")?;
    let loaded = match compile_cmd::load(&sandbox, &bytes, &args.cache_dir) {
        Ok(l) => Ok(l),
        Err(e) => match e.outcome() {
            Some(outcome) => Err((outcome, format!("{}: {e}", args.wasm.display()))),
            None => return Err(e).with_context(|| format!("{}", args.wasm.display())),
        },
    };
    let (seed, seed_source) = match args.seed {
        Some(s) => (s, "flag"),
        None => (
            derive_seed(0, &format!("{wasm_sha256}:{}", task.task_hash)),
            "derived from wasm and task hashes",
        ),
    };
    Ok(Prepared {
        wasm_path: args.wasm.clone(),
        wasm_bytes: bytes.len() as u64,
        wasm_sha256,
        task_dir,
        task: Arc::new(task),
        sandbox,
        seed,
        seed_source,
        policy,
        loaded,
    })
}

/// Runs the strategy, or makes the report of a refused one.
fn run_guest(p: &Prepared, args: &CommonArgs) -> Result<RunReport> {
    let loaded = match &p.loaded {
        Ok(l) => l,
        Err((outcome, _)) => return Ok(refused(p, outcome.clone())),
    };
    let bar = progress::compute_bar("strategy", p.policy.effective.host().compute_flops);
    let mut on_progress = |pr: Progress| {
        bar.set_message(format!(
            "{} steps, {:.2} GFLOP",
            pr.steps,
            pr.flops as f64 / 1e9
        ));
        bar.tick();
    };
    let task = Arc::clone(&p.task);
    let report = match &args.audit {
        None => p.sandbox.run(
            &loaded.strategy,
            task,
            &args.config,
            p.seed,
            &mut on_progress,
        ),
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let out = Box::new(BufWriter::new(file));
            let r = p.sandbox.run_audited(
                &loaded.strategy,
                task,
                &args.config,
                p.seed,
                &mut on_progress,
                out,
            );
            if let Some(e) = &r.audit_error {
                bail!("cannot write the audit log {}: {e}", path.display());
            }
            r
        }
    };
    bar.finish_and_clear();
    Ok(report)
}

/// The report of a component refused before running.
fn refused(p: &Prepared, outcome: Outcome) -> RunReport {
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
        wasm_sha256: p.wasm_sha256.clone(),
        seed: p.seed,
    }
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

fn facts<'a>(p: &'a Prepared, config: &'a str) -> RunFacts<'a> {
    RunFacts {
        wasm_path: &p.wasm_path,
        wasm_bytes: p.wasm_bytes,
        task: &p.task,
        seed_source: p.seed_source,
        config,
        policy: &p.policy,
        loaded: p.loaded.as_ref().ok(),
    }
}

/// Prints the refusal line of a component the sandbox refused, if it was.
fn print_refusal(p: &Prepared) {
    if let Err((_, line)) = &p.loaded {
        eprintln!("error: {}", w2s_host::printable(line));
    }
}

pub(crate) fn eval(args: EvalArgs) -> Result<ExitCode> {
    let p = prepare(&args.common, true)?;
    let run = run_guest(&p, &args.common)?;
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
    let report = Report::build(facts(&p, &args.common.config), run, score, score_ms);
    if p.loaded.is_ok() {
        print!("{}", report.table());
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_refusal(&p);
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
    let run = run_guest(&p, &args.common)?;
    let ckpt = write_checkpoint(&run, &args.out)?;
    let report = Report::build(facts(&p, &args.common.config), run, None, 0);
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
    print_refusal(&p);
    Ok(if report.outcome.code == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
