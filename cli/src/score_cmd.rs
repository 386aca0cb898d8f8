//! `w2s score`: the scorer process.
//!
//! `w2s eval` starts this as a child process: it is the only process that
//! opens `heldout/`. It scores every checkpoint it is given in one call
//! (the held-out data is verified and the baselines loaded once), prints
//! one JSON [`ScoreSet`] on stdout and draws progress on stderr.
//!
//! [`ScoreSet`]: w2s_scorer::ScoreSet

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
    /// A student checkpoint written by a run (repeat for several; verdicts
    /// come back in the same order).
    #[arg(long, required = true)]
    checkpoint: Vec<PathBuf>,
}

pub(crate) fn score(args: ScoreArgs) -> Result<ExitCode> {
    let checkpoints = args
        .checkpoint
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let bar = progress::steps_bar("ceiling");
    let report = w2s_scorer::score_checkpoints(&args.task, &checkpoints, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
