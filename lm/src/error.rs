//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong loading a model or extracting features.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A model directory's `config.json` is missing, malformed, or names an
    /// architecture or setting this crate does not implement.
    #[error("{dir}: config.json: {problem}")]
    Config {
        /// The model directory.
        dir: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The weight files are missing, unreadable, or lack a tensor or shape
    /// the config implies.
    #[error("{dir}: weights: {problem}")]
    Weights {
        /// The model directory.
        dir: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `tokenizer.json` is missing, malformed, or does not match the model.
    #[error("{dir}: tokenizer.json: {problem}")]
    Tokenizer {
        /// The model directory.
        dir: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A GGUF file is truncated or corrupt, names an architecture or a
    /// tensor type this crate does not implement, or lacks what the model
    /// needs (a tensor, tokenizer metadata).
    #[error("{file}: GGUF: {problem}")]
    Gguf {
        /// The GGUF file.
        file: PathBuf,
        /// What is wrong (naming the tensor, key or byte offset).
        problem: String,
    },
    /// A caller-supplied value is out of range (a layer, a batch size...).
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// The value's name.
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
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl LmError {
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

/// The crate's result type.
pub type Result<T, E = LmError> = std::result::Result<T, E>;
