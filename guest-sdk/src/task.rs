//! The public view of the task: what the weak teacher says about an
//! unlabeled pool of examples.
//!
//! Free functions, because a guest runs exactly one task: there is nothing
//! to construct. Counts are `usize` (they size buffers); pool indices stay
//! `u32`, as in the WIT contract.

use crate::arch::ArchLimit;
use crate::bindings::w2s::strategy::task as wit;
use crate::error::{Error, ErrorCode};
use crate::matrix::Matrix;

/// The task's name, from its bundle.
pub fn name() -> String {
    wit::name()
}

/// The seed the host chose for this run. Derive every random choice from it
/// (see [`crate::Rng`]): the run is then reproducible.
pub fn seed() -> u64 {
    wit::seed()
}

/// Number of classes.
pub fn num_classes() -> usize {
    wit::num_classes() as usize
}

/// Number of examples in the unlabeled training pool. Pool indices run from
/// 0 to `pool_size() - 1`.
pub fn pool_size() -> usize {
    wit::pool_size() as usize
}

/// Every pool index, in order: `0..pool_size()`.
pub fn pool_indices() -> Vec<u32> {
    (0..wit::pool_size()).collect()
}

/// Width of the strong features (the input of a student head).
pub fn feature_dim() -> usize {
    wit::feature_dim() as usize
}

/// The weak teacher's class probabilities for `indices`, row-major:
/// `indices.len() * num_classes()` values.
pub fn weak_labels(indices: &[u32]) -> Result<Vec<f32>, Error> {
    Ok(wit::weak_labels(indices)?)
}

/// [`weak_labels`] as a matrix with one row per index.
pub fn weak_probs(indices: &[u32]) -> Result<Matrix, Error> {
    rows_of(weak_labels(indices)?, indices.len(), num_classes())
}

/// The student architectures this run may build.
pub fn allowed_architectures() -> Vec<ArchLimit> {
    wit::allowed_architectures()
        .into_iter()
        .map(ArchLimit::from)
        .collect()
}

/// Checks that the host returned `rows * cols` values and wraps them.
pub(crate) fn rows_of(values: Vec<f32>, rows: usize, cols: usize) -> Result<Matrix, Error> {
    if values.len() != rows * cols {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "host returned {} values for {rows} rows of {cols}",
                values.len()
            ),
        ));
    }
    if rows == 0 {
        return Matrix::new(Vec::new(), cols.max(1));
    }
    Matrix::new(values, cols)
}
