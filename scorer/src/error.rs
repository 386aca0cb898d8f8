//! The scorer's error type.

/// What can go wrong while scoring.
#[derive(Debug, thiserror::Error)]
pub enum ScorerError {
    /// The task bundle or a training primitive failed.
    #[error(transparent)]
    Train(#[from] w2s_train::TrainError),
    /// The student checkpoint does not fit the task.
    #[error("student checkpoint does not fit the task: {0}")]
    CheckpointMismatch(String),
    /// The weak and ceiling accuracies are too close for PGR to mean anything.
    #[error(
        "on the {part} test part, weak_acc ({weak:.4}) and ceiling_acc ({ceiling:.4}) leave no gap to recover"
    )]
    NoGap {
        /// Which part of the test split.
        part: &'static str,
        /// Weak teacher accuracy.
        weak: f64,
        /// Ceiling accuracy.
        ceiling: f64,
    },
}
