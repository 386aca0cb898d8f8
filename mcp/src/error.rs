//! The crate's one error type: every failure carries a short, stable code
//! that an agent can branch on (the MCP tool errors lead with it).

use std::path::PathBuf;

/// A failure of a tool, of `w2s new`, or of the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool's arguments are missing, of the wrong type, or out of range.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// A strategy name that cannot be a crate or module name.
    #[error("invalid strategy name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `--from` names no method of plugins/methods.toml (for that language).
    #[error("unknown method {0:?} (list_methods shows the methods and their languages)")]
    UnknownMethod(String),
    /// The target directory of a new project exists and is not empty.
    #[error("{} already exists and is not empty", .0.display())]
    ProjectExists(PathBuf),
    /// A directory that is not a strategy project of `w2s new`.
    #[error("{} is not a strategy project (no Cargo.toml and no Python strategy with w2s-sdk/)", .0.display())]
    NotAProject(PathBuf),
    /// Building a strategy failed; `log` is the tail of the build's output.
    #[error("the build failed: {log}")]
    BuildFailed {
        /// The last lines of the compiler's output.
        log: String,
    },
    /// No task of that name.
    #[error("unknown task {0:?}")]
    UnknownTask(String),
    /// A tool that needs a `w2s serve` (submit, status, report,
    /// leaderboard) in local mode.
    #[error("{0} needs a server: start `w2s mcp --server URL --token-file FILE`")]
    NeedsServer(&'static str),
    /// An evaluation in which some run did not complete: `code` is the
    /// first such run's outcome code (`fuel-exhausted`, `invalid-module`,
    /// ...), `detail` the feedback.
    #[error("a run ended in `{code}`")]
    Outcome {
        /// The outcome code.
        code: String,
        /// The evaluation's feedback, as the tool returns it.
        detail: serde_json::Value,
    },
    /// The evaluator refused or failed (bad wasm, bad policy, ...).
    #[error("{0}")]
    Eval(#[from] w2s_eval::EvalError),
    /// The server answered with an error (`code` is the service's).
    #[error("the server refused: {message}")]
    Server {
        /// The service's error code (`quota_exceeded`, `unauthorized`, ...).
        code: String,
        /// Its message.
        message: String,
    },
    /// The server could not be reached or answered something unreadable.
    #[error("cannot talk to the server: {0}")]
    Transport(String),
    /// A file could not be read or written.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// The stable code of this error, the first word of every tool error.
    pub fn code(&self) -> String {
        let fixed = match self {
            Self::Outcome { code, .. } => return code.clone(),
            Self::Server { code, .. } => return code.clone(),
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::InvalidName { .. } => "invalid_name",
            Self::UnknownMethod(_) => "unknown_method",
            Self::ProjectExists(_) => "project_exists",
            Self::NotAProject(_) => "not_a_project",
            Self::BuildFailed { .. } => "build_failed",
            Self::UnknownTask(_) => "unknown_task",
            Self::NeedsServer(_) => "needs_server",
            Self::Eval(_) => "evaluation_refused",
            Self::Transport(_) => "server_unreachable",
            Self::Io { .. } => "io_error",
        };
        fixed.to_owned()
    }

    /// An [`Error::Io`].
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
