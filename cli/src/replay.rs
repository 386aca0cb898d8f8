//! `w2s replay REPORT.json --wasm FILE [--task DIR]`: run an evaluation
//! again from its report and compare the two, bit for bit (see
//! [`w2s_eval::replay`]). Identical: prints `identical`, exit 0; the first
//! differing field is named and the exit status is 3.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use w2s_eval::Executable;
use w2s_eval::replay::{ReplayRequest, replay as replay_report};
use w2s_eval::seeds::DEFAULT_SECRET_FILE;

use crate::eval_args::write_json;
use crate::progress::Bars;

/// Exit status of a replay that differs from its report.
const DIFFERS: u8 = 3;

/// Arguments of `w2s replay`.
#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// The report to reproduce (written by `w2s eval --json`).
    report: PathBuf,
    /// The strategy the report is about.
    #[arg(long)]
    wasm: PathBuf,
    /// The task bundle [default: .w2s/tasks/default].
    #[arg(long)]
    task: Option<PathBuf>,
    /// The evaluator's secret, to verify the report's seeds and to
    /// regenerate a suite's tasks generated under secret seeds [default:
    /// .w2s/secret, when it exists; never created by a replay].
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// Where a suite report's tasks are (regenerated when missing)
    /// [default: .w2s/suites/NAME, or .w2s/suites/NAME.secret for a suite
    /// under secret task seeds].
    #[arg(long, value_name = "DIR")]
    suite_dir: Option<PathBuf>,
    /// Write the replayed report here.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// The policy to replay under [default: the one embedded in the
    /// report, when it validates to the same hash; else the built-in one].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Directory of compiled components.
    #[arg(long, default_value = ".w2s/cache/compiled")]
    cache_dir: PathBuf,
}

pub(crate) fn replay(args: ReplayArgs) -> Result<ExitCode> {
    let request = ReplayRequest {
        report: args.report,
        wasm: args.wasm,
        task: args.task.unwrap_or_else(crate::default_task_dir),
        secret_file: args
            .secret_file
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SECRET_FILE)),
        suite_dir: args.suite_dir,
        policy: args.policy,
        cache_dir: args.cache_dir,
    };
    let both = replay_report(&Executable::current()?, &request, &Bars::default())?;
    if let Some(path) = &args.json {
        write_json(path, &both.replayed)?;
    }
    match both.first_difference() {
        None => {
            println!("identical");
            Ok(ExitCode::SUCCESS)
        }
        Some(d) => {
            println!("differs at {d}");
            Ok(ExitCode::from(DIFFERS))
        }
    }
}
