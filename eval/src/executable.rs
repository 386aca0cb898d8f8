//! The `w2s` executable whose subcommands are an evaluation's child
//! processes.
//!
//! Three steps of an evaluation never run in the process that runs guest
//! code: compiling an untrusted component (`w2s compile`, under the
//! policy's time and address-space limits), scoring (`w2s score`, the only
//! process that opens held-out data) and generating a task (`w2s task
//! synth`, which holds the task's ground truth). The library starts them
//! from one `w2s` executable: the running one for `w2s` itself
//! ([`Executable::current`]), a path for anyone embedding the library
//! ([`Executable::at`]). The guest runs in a fourth, `w2s-runner`, a binary
//! of its own beside `w2s` ([`Executable::runner_path`]) that links no
//! held-out reader and confines itself before it loads the guest.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{EvalError, Result};

/// The runner executable's file name, beside `w2s`.
const RUNNER: &str = "w2s-runner";

/// The `w2s` executable the child processes are started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    path: PathBuf,
}

impl Executable {
    /// The running executable (for `w2s` itself).
    pub fn current() -> Result<Self> {
        let path = std::env::current_exe().map_err(|source| EvalError::Executable { source })?;
        Ok(Self { path })
    }

    /// The `w2s` executable at `path` (for a program embedding the library).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The confined runner, `w2s-runner`, beside it: the process that runs
    /// guest code (see `w2s-runner`).
    pub fn runner_path(&self) -> PathBuf {
        self.path.with_file_name(RUNNER)
    }

    /// A command that runs it.
    pub(crate) fn command(&self) -> Command {
        Command::new(&self.path)
    }
}
