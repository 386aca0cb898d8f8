//! The fourth stage: scoring, in the scorer process.
//!
//! One `w2s score` child process scores every checkpoint of an evaluation
//! (real and control runs) in one call, so the held-out data is verified
//! and the baselines are loaded once. That child is the only process that
//! opens `heldout/`; this library never links the scorer, it reads the
//! child's JSON verdict ([`w2s_verdict::ScoreSet`]).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use w2s_verdict::ScoreSet;

use crate::error::{EvalError, Result};
use crate::executable::Executable;
use crate::task::Task;

/// Starts `w2s score` as a child process on every checkpoint and reads its
/// JSON verdicts.
fn score_in_child(exe: &Executable, task: &Task, checkpoints: &[PathBuf]) -> Result<ScoreSet> {
    let mut cmd = exe.command();
    cmd.arg("score").arg("--task").arg(task.dir());
    for c in checkpoints {
        cmd.arg("--checkpoint").arg(c);
    }
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| EvalError::Spawn {
            what: "the scorer process",
            source,
        })?;
    if !output.status.success() {
        return Err(EvalError::ScorerFailed {
            status: output.status,
        });
    }
    serde_json::from_slice(&output.stdout).map_err(|source| EvalError::ScorerOutput { source })
}

/// Scores `checkpoints` (in order) in one scorer child process and checks
/// that the verdicts are about them and this task. Returns the verdicts
/// and the wall time.
pub(crate) fn score(
    exe: &Executable,
    task: &Task,
    checkpoints: &[PathBuf],
) -> Result<(ScoreSet, u64)> {
    let start = Instant::now();
    let set = score_in_child(exe, task, checkpoints)?;
    if set.students.len() != checkpoints.len() {
        return Err(EvalError::ScorerVerdicts {
            got: set.students.len(),
            expected: checkpoints.len(),
        });
    }
    if set.task_hash != task.hash() {
        return Err(EvalError::ScorerTask {
            scored: set.task_hash,
            ran: task.hash().to_owned(),
        });
    }
    Ok((set, start.elapsed().as_millis() as u64))
}
