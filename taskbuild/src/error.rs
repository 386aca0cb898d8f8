//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can stop a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A dataset file is missing or a line of it is wrong.
    #[error("{}{}: {problem}", file.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Dataset {
        /// The file.
        file: PathBuf,
        /// The 1-based line number, when one line is at fault.
        line: Option<usize>,
        /// What is wrong.
        problem: String,
    },
    /// A model directory or the forward pass failed.
    #[error(transparent)]
    Model(#[from] w2s_lm::LmError),
    /// Training the weak probe or writing the bundle failed.
    #[error(transparent)]
    Train(#[from] w2s_train::TrainError),
    /// A build setting is out of range.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// The setting.
        what: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// An I/O failure on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            problem: problem.into(),
        }
    }
}

impl From<candle_core::Error> for BuildError {
    fn from(e: candle_core::Error) -> Self {
        Self::Train(w2s_train::TrainError::from(e))
    }
}

/// The crate's result type.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;
