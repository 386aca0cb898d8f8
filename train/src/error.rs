//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the training primitives and task bundles.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An argument does not fit: a wrong length, an index out of range, a
    /// non-finite value. `what` names the argument.
    #[error("invalid argument `{what}`: {reason}")]
    InvalidArgument {
        /// The argument.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An optimizer hyperparameter is out of range.
    #[error("invalid optimizer setting `{field}` = {value}: {reason}")]
    InvalidOptimizer {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f32,
        /// The accepted range.
        reason: &'static str,
    },
    /// An optimizer's state belongs to a different student shape.
    #[error("optimizer state does not match the student's parameters")]
    OptimizerMismatch,
    /// A task bundle is malformed; `problem` says exactly how.
    #[error("task bundle {}: {problem}", dir.display())]
    Bundle {
        /// The bundle's directory.
        dir: PathBuf,
        /// The specific problem (a file, a hash, a shape...).
        problem: String,
    },
    /// A student checkpoint is malformed.
    #[error("student checkpoint: {0}")]
    Checkpoint(String),
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tensor operation failed inside candle.
    #[error("tensor backend: {0}")]
    Backend(#[from] candle_core::Error),
    /// The strong language model's forward failed (`lm-lora` students).
    /// Boxed: every error type that wraps this one stays small.
    #[error("language model: {0}")]
    Lm(Box<w2s_lm::LmError>),
}

impl From<w2s_lm::LmError> for TrainError {
    fn from(e: w2s_lm::LmError) -> Self {
        Self::Lm(Box::new(e))
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
