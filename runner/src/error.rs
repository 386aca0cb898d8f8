//! The crate's one error type.

use std::path::PathBuf;

/// Why the runner could not do its job (a guest's failure is an outcome,
/// not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The job file is not one this runner can do.
    #[error("the job: {reason}")]
    Job {
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process could not be confined (or, with confinement required,
    /// the kernel lacks a layer).
    #[error("confinement: {0}")]
    Confine(#[from] w2s_confine::ConfineError),
    /// The task or a student's checkpoint.
    #[error(transparent)]
    Train(#[from] w2s_train::TrainError),
    /// The sandbox, or the compiled component.
    #[error(transparent)]
    Host(#[from] w2s_host::HostError),
}
