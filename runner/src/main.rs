//! `w2s-runner --job PATH`: confine this process, then run the job (see
//! the crate docs). Exit 0 with the result file written; else 2, with one
//! line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use w2s_runner::RunnerError;
use w2s_runner::execute::run_job;
use w2s_runner::job::{Job, RESULT_FILE};

fn job_path() -> Result<PathBuf, RunnerError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, path] if flag == "--job" => Ok(PathBuf::from(path)),
        _ => Err(RunnerError::Job {
            reason: "usage: w2s-runner --job PATH".to_owned(),
        }),
    }
}

fn run() -> Result<(), RunnerError> {
    let job = Job::read(&job_path()?)?;
    let confinement = w2s_runner::confine_for(&job)?;
    let result = run_job(&job, confinement, &mut std::io::stdout().lock())?;
    let path = job.out_dir.join(RESULT_FILE);
    let json = serde_json::to_vec(&result).map_err(|e| RunnerError::Job {
        reason: format!("cannot encode the result: {e}"),
    })?;
    std::fs::write(&path, json).map_err(|source| RunnerError::Io { path, source })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("w2s-runner: {e}");
            ExitCode::from(2)
        }
    }
}
