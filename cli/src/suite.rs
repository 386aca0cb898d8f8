//! `w2s eval --suite [--secret-task-seeds]`: the generalization check (see
//! [`w2s_eval::suite`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use w2s_eval::seeds::Secret;
use w2s_eval::suite::Suite;
use w2s_eval::{Executable, Report};

use crate::eval_args::{CommonArgs, print_refusal, status, write_json};
use crate::progress::Bars;
use w2s_eval::table::suite_table;

/// Arguments of `w2s eval --suite`.
#[derive(Args, Default)]
pub(crate) struct SuiteArgs {
    /// Score on the generalization suite (tasks and seeds the strategy was
    /// not developed on) instead of one task.
    #[arg(long, conflicts_with = "task")]
    suite: bool,
    /// The suite definition [default: examples/suites/default.toml, built in].
    #[arg(long, value_name = "FILE", requires = "suite")]
    suite_file: Option<PathBuf>,
    /// Where the suite's tasks are generated [default: .w2s/suites/NAME,
    /// or .w2s/suites/NAME.secret with --secret-task-seeds].
    #[arg(long, value_name = "DIR", requires = "suite")]
    suite_dir: Option<PathBuf>,
    /// Generate the suite's tasks under seeds derived from the evaluator's
    /// secret (--secret-file) instead of the seeds the suite file lists, so
    /// that nobody without the secret can regenerate them (ranking; what
    /// the service runs). Without it the tasks are public (development).
    #[arg(long, requires = "suite")]
    secret_task_seeds: bool,
}

impl SuiteArgs {
    pub(crate) fn enabled(&self) -> bool {
        self.suite
    }
}

pub(crate) fn run(
    exe: &Executable,
    args: &SuiteArgs,
    common: &CommonArgs,
    json: Option<&Path>,
    feedback_only: bool,
) -> Result<ExitCode> {
    let seeds = common.seeds.request();
    let mut suite = Suite::load(args.suite_file.as_deref())?;
    let secret = if args.secret_task_seeds {
        suite = suite.with_secret_task_seeds();
        Some(Secret::load_or_create(&seeds.secret_file)?)
    } else {
        None
    };
    let dir = args
        .suite_dir
        .clone()
        .unwrap_or_else(|| suite.default_dir());
    let sub = common.sandbox.load(exe, &common.wasm)?;
    print_refusal(&sub);
    let report = suite.evaluate(
        &sub,
        &dir,
        secret.as_ref(),
        &seeds,
        &common.options(),
        &Bars::default(),
    )?;
    print!("{}", suite_table(&report, feedback_only));
    if let Some(path) = json {
        write_json(path, &report)?;
    }
    Ok(status(report.reports.iter().all(Report::fully_scored)))
}
