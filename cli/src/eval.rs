//! `w2s eval` and `w2s run`: the arguments, and what they print.
//!
//! The evaluation itself is the library's ([`w2s_eval::Evaluation`]): this
//! process loads the component (compiled in a `w2s compile` child), and a
//! confined `w2s-runner` child runs it in the sandbox over the *public*
//! part of the task only; one `w2s
//! score` child, the same executable, scores the students and is the only
//! process that opens `heldout/`. A test runs `w2s run` on a copy of a
//! bundle whose `heldout/` was deleted to prove the first half never needs
//! it.
//!
//! A component the sandbox refuses (an import the policy denies, a module
//! that does not compile or is too large) is the strategy's outcome, not
//! bad input: one `error:` line, a report whose runs all carry the outcome
//! `import-denied` or `invalid-module`, exit status 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use w2s_eval::{Evaluation, Executable, PolicyInfo, Submission, Task};

use crate::progress::Bars;
use crate::seeds::SeedArgs;
use w2s_eval::table;

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
    /// prior, and the counterfactual teacher where the task has one) under
    /// the same seeds; see docs/SCORING.md.
    #[arg(long)]
    pub(crate) controls: bool,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}

impl CommonArgs {
    /// The options of the evaluation.
    pub(crate) fn options(&self) -> w2s_eval::Options {
        w2s_eval::Options {
            config: self.config.clone(),
            controls: self.controls,
            device: self.sandbox.device,
            require_confinement: self.sandbox.require_confinement,
        }
    }
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
    pub(crate) device: w2s_train::device::DeviceSpec,
    /// Fail unless the runner process that runs the guest applied every OS
    /// layer under the wasm sandbox: Landlock (with its TCP rules), seccomp,
    /// `no_new_privs` and rlimits. Without it, a layer this kernel lacks is
    /// only recorded in the report's `confinement`. `w2s serve` and `w2s
    /// worker` always pass it.
    #[arg(long)]
    pub(crate) require_confinement: bool,
}

impl SandboxArgs {
    /// Loads `wasm` under these settings.
    pub(crate) fn load(&self, exe: &Executable, wasm: &Path) -> Result<Submission> {
        let policy = PolicyInfo::effective(self.policy.as_deref())?;
        let sub = Submission::load(exe, wasm, policy, &self.cache_dir)?;
        Ok(sub.with_audit(self.audit.clone()))
    }
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

/// Prints the one error line of a component the sandbox refused.
pub(crate) fn print_refusal(sub: &Submission) {
    if let Some(line) = sub.refusal() {
        eprintln!("error: {}", w2s_host::printable(line));
    }
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// 0 when `ok`, else 2 (some run did not complete or was not scored).
pub(crate) fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// Loads the submission, opens the task and plans the seeds: everything an
/// evaluation needs before it runs.
fn prepare(
    exe: &Executable,
    common: &CommonArgs,
    generate_default: bool,
) -> Result<(Submission, Task, w2s_eval::SeedPlan)> {
    let dir = match &common.task {
        Some(dir) => dir.clone(),
        None => {
            let dir = crate::default_task_dir();
            if generate_default {
                w2s_eval::task::ensure_default_task(exe, &dir, &Bars::default())?;
            }
            dir
        }
    };
    let sub = common.sandbox.load(exe, &common.wasm)?;
    let task = Task::open_on(&dir, common.sandbox.device)?;
    let seeds = common
        .seeds
        .request()
        .plan(sub.wasm_sha256(), task.hash())?;
    Ok((sub, task, seeds))
}

pub(crate) fn eval(args: EvalArgs) -> Result<ExitCode> {
    let exe = Executable::current()?;
    if args.suite.enabled() {
        return crate::suite::run(
            &exe,
            &args.suite,
            &args.common,
            args.json.as_deref(),
            args.feedback_only,
        );
    }
    let (sub, task, seeds) = prepare(&exe, &args.common, true)?;
    let report = Evaluation::new(&task, &sub, seeds)
        .options(args.common.options())
        .keep_checkpoints(args.out.clone())
        .run(&Bars::default())?;
    if sub.refusal().is_some() {
        print_refusal(&sub);
    } else if args.feedback_only {
        print!(
            "{}",
            table::feedback_table(&report.feedback, &report.runs, &report.flags)
        );
    } else {
        print!("{}", table::report_table(&report));
    }
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.feedback_json {
        write_json(path, &report.feedback)?;
    }
    Ok(status(report.fully_scored()))
}

pub(crate) fn run_only(args: RunArgs) -> Result<ExitCode> {
    if args.common.task.is_none() {
        bail!("`w2s run` needs --task DIR");
    }
    let exe = Executable::current()?;
    let (sub, task, seeds) = prepare(&exe, &args.common, false)?;
    let (report, checkpoints) = Evaluation::new(&task, &sub, seeds)
        .options(args.common.options())
        .run_unscored(&args.out, &Bars::default())?;
    write_json(&args.out.join("run.json"), &report)?;
    print_refusal(&sub);
    println!("{}", table::runs_line(&report.runs));
    for c in checkpoints {
        println!("student written to {}", c.display());
    }
    Ok(status(report.completed() == report.runs.len()))
}
