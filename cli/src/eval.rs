//! `w2s eval` and `w2s run`.
//!
//! Process layout: this process loads the component (compiled in a
//! `w2s compile` child under the policy's bounds, see
//! [`crate::compile_cmd`]) and runs it in the sandbox over the *public* part of the task only, once per seed (and once
//! per seed and control with `--controls`, see [`crate::controls`]). The
//! students it returns are written as checkpoints, and one child process
//! (`w2s score`, the same executable) scores them all; that child is the
//! only process that opens `heldout/`. A test runs `w2s run` on a copy of a
//! bundle whose `heldout/` was deleted to prove the first half never needs
//! it. The orchestration lives in [`crate::evaluation`].
//!
//! A component the sandbox refuses (an import the policy denies, a module
//! that does not compile or is too large) is the strategy's outcome, not
//! bad input: one `error:` line, a report whose runs all carry the outcome
//! `import-denied` or `invalid-module`, exit status 2.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use sha2::{Digest, Sha256};
use w2s_host::Sandbox;
use w2s_scorer::ScoreSet;
use w2s_train::bundle::PublicTask;
use w2s_train::device::DeviceSpec;

use crate::compile_cmd;
use crate::evaluation::{self, Options, Submission, TaskView};
use crate::policy_cmd::{self, PolicyInfo};
use crate::report::Report;
use crate::seeds::SeedArgs;

/// Arguments shared by `eval` and `run`.
#[derive(Args)]
pub(crate) struct CommonArgs {
    /// The strategy: a wasm32-wasip2 component.
    pub(crate) wasm: PathBuf,
    /// The task bundle [default: .w2s/tasks/default, generated when missing].
    #[arg(long)]
    pub(crate) task: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) seeds: SeedArgs,
    /// Config string passed to the strategy's `run`.
    #[arg(long, default_value = "")]
    pub(crate) config: String,
    /// Also run the teacher-ablation controls (permuted labels, class
    /// prior) under the same seeds; see docs/SCORING.md.
    #[arg(long)]
    pub(crate) controls: bool,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}

/// How the sandbox is set up: the policy, the audit log, the compile cache,
/// the device.
#[derive(Args)]
pub(crate) struct SandboxArgs {
    /// The sandbox policy (TOML, version 1) [default: the built-in policy,
    /// identical to examples/policies/default.toml].
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Write the audit log here: one JSON line per host call, then a
    /// summary (see docs/POLICY.md). With several runs, one file per run:
    /// `NAME-<run>.jsonl`.
    #[arg(long, value_name = "OUT.jsonl")]
    pub(crate) audit: Option<PathBuf>,
    /// Directory of compiled components, keyed by the wasm's sha256 and the
    /// engine configuration.
    #[arg(long, default_value = ".w2s/cache/compiled")]
    pub(crate) cache_dir: PathBuf,
    /// Where the training primitives run: `cpu`, or `cuda`/`cuda:N` in a
    /// build with the `cuda` feature (scripts/build-cuda.sh). Scoring always
    /// runs on the CPU. See docs/DEVICES.md for what a GPU reproduces.
    #[arg(long, default_value = "cpu", value_parser = w2s_train::device::parse_device)]
    pub(crate) device: DeviceSpec,
}

/// Arguments of `w2s eval`.
#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Also write the full JSON report here (the evaluator's record).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the run's files (student checkpoints) in this directory.
    #[arg(long, conflicts_with = "suite")]
    out: Option<PathBuf>,
    /// Print only the coarse public feedback a submitter may see.
    #[arg(long)]
    feedback_only: bool,
    /// Also write the feedback section alone as JSON here.
    #[arg(long, value_name = "OUT", conflicts_with = "suite")]
    feedback_json: Option<PathBuf>,
    #[command(flatten)]
    suite: crate::suite::SuiteArgs,
}

/// Arguments of `w2s run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Directory for the `student-*.safetensors` checkpoints and `run.json`.
    #[arg(long)]
    out: PathBuf,
}

/// Reads the strategy and compiles it (in a child process, cached) under
/// `policy`. A component the sandbox refuses is not an error here: the
/// submission carries the refusal, and every run reports it as its outcome.
pub(crate) fn load_submission(
    wasm: &Path,
    policy: PolicyInfo,
    cache_dir: &Path,
) -> Result<Submission> {
    let sandbox = Sandbox::new(policy.effective.clone()).context("cannot set up the sandbox")?;
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let loaded = match compile_cmd::load(&sandbox, &bytes, cache_dir) {
        Ok(l) => Ok(l),
        Err(e) => match e.outcome() {
            Some(outcome) => Err((outcome, format!("{}: {e}", wasm.display()))),
            None => return Err(e).with_context(|| format!("{}", wasm.display())),
        },
    };
    Ok(Submission {
        wasm_file: wasm
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        wasm_bytes: bytes.len() as u64,
        wasm_sha256: hex::encode(Sha256::digest(&bytes)),
        sandbox,
        loaded,
        policy,
        audit: None,
    })
}

/// [`load_submission`] with the policy and cache of `args`, and its audit
/// log path.
pub(crate) fn load_with(wasm: &Path, args: &SandboxArgs) -> Result<Submission> {
    let policy = policy_cmd::effective(args.policy.as_deref())?;
    let mut sub = load_submission(wasm, policy, &args.cache_dir)?;
    sub.audit = args.audit.clone();
    Ok(sub)
}

/// Prints the one error line of a component the sandbox refused.
pub(crate) fn print_refusal(sub: &Submission) {
    if let Err((_, line)) = &sub.loaded {
        eprintln!("error: {}", w2s_host::printable(line));
    }
}

/// Opens the public part of the task at `dir`, its features on `device`.
pub(crate) fn open_task(dir: &Path, device: DeviceSpec) -> Result<TaskView> {
    let device = device.open()?;
    let task = PublicTask::open(dir, &device).context("cannot open the task")?;
    Ok(TaskView {
        dir: dir.to_path_buf(),
        task: Arc::new(task),
    })
}

fn task_dir(args: &CommonArgs, generate_default: bool) -> Result<PathBuf> {
    Ok(match &args.task {
        Some(dir) => dir.clone(),
        None => {
            let dir = crate::default_task_dir();
            if generate_default {
                crate::task_cmd::ensure_default_task(&dir)?;
            }
            dir
        }
    })
}

/// Starts `w2s score` as a child process on every checkpoint and reads its
/// JSON verdicts.
pub(crate) fn score_in_child(task_dir: &Path, checkpoints: &[PathBuf]) -> Result<ScoreSet> {
    let exe = std::env::current_exe().context("cannot locate the w2s executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("score").arg("--task").arg(task_dir);
    for c in checkpoints {
        cmd.arg("--checkpoint").arg(c);
    }
    let output = cmd
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

/// Runs both phases of one evaluation, keeping the checkpoints in `out`
/// (a temporary directory when `None`).
pub(crate) fn evaluate(
    sub: &Submission,
    view: &TaskView,
    opts: &Options,
    out: Option<&Path>,
) -> Result<Report> {
    let tmp;
    let out_dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let phase = evaluation::sandboxed_phase(sub, view, opts, &out_dir)?;
    let (score, score_ms) = evaluation::scoring_phase(view, &phase)?;
    Ok(evaluation::assemble(
        sub, view, opts, phase, score, score_ms,
    ))
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// Loads the submission, opens the task and plans the seeds: everything an
/// evaluation needs before it runs.
fn prepare(common: &CommonArgs, generate_default: bool) -> Result<(Submission, TaskView, Options)> {
    let dir = task_dir(common, generate_default)?;
    let sub = load_with(&common.wasm, &common.sandbox)?;
    let view = open_task(&dir, common.sandbox.device)?;
    let opts = Options {
        config: common.config.clone(),
        seeds: common.seeds.plan(&sub.wasm_sha256, &view.task.task_hash)?,
        controls: common.controls,
    };
    Ok((sub, view, opts))
}

pub(crate) fn eval(args: EvalArgs) -> Result<ExitCode> {
    if args.suite.enabled() {
        return crate::suite::run(
            &args.suite,
            &args.common,
            args.json.as_deref(),
            args.feedback_only,
        );
    }
    let (sub, view, opts) = prepare(&args.common, true)?;
    let report = evaluate(&sub, &view, &opts, args.out.as_deref())?;
    if sub.loaded.is_err() {
        print_refusal(&sub);
    } else if args.feedback_only {
        print!("{}", report.feedback.table(&report.runs, &report.flags));
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.feedback_json {
        write_json(path, &report.feedback)?;
    }
    Ok(if report.fully_scored() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub(crate) fn run_only(args: RunArgs) -> Result<ExitCode> {
    if args.common.task.is_none() {
        bail!("`w2s run` needs --task DIR");
    }
    let (sub, view, opts) = prepare(&args.common, false)?;
    let phase = evaluation::sandboxed_phase(&sub, &view, &opts, &args.out)?;
    let checkpoints = phase.checkpoints();
    let report = evaluation::assemble(&sub, &view, &opts, phase, None, 0);
    write_json(&args.out.join("run.json"), &report)?;
    print_refusal(&sub);
    println!("{}", crate::report::runs_line(&report.runs));
    for c in checkpoints {
        println!("student written to {}", c.display());
    }
    Ok(if report.completed() == report.runs.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
