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

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use w2s_eval::{Evaluation, Executable, Submission, Task};

use crate::eval_args::{CommonArgs, print_refusal, status, write_json};
use crate::progress::Bars;
use w2s_eval::table;

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
