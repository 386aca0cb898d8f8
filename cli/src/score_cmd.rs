//! `w2s score`: the scorer process.
//!
//! `w2s eval` starts this as a child process: it is the only process that
//! opens `heldout/`. It prints one JSON [`ScoreReport`] on stdout and draws
//! progress on stderr.
//!
//! [`ScoreReport`]: w2s_scorer::ScoreReport

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::progress;

/// Arguments of `w2s score`.
#[derive(Args)]
pub(crate) struct ScoreArgs {
    /// The task bundle (the full bundle, with `heldout/`).
    #[arg(long)]
    task: PathBuf,
    /// The student checkpoint written by the run.
    #[arg(long)]
    checkpoint: PathBuf,
}

pub(crate) fn score(args: ScoreArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.checkpoint)
        .with_context(|| format!("cannot read {}", args.checkpoint.display()))?;
    let bar = progress::steps_bar("ceiling");
    let report = w2s_scorer::score_checkpoint(&args.task, &bytes, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
