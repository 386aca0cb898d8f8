//! Reading rows for many pool indices in calls of bounded length.
//!
//! Every `list` argument of the contract is bounded by the policy's
//! `max-indices-per-call` (65536 by default), so reading the weak labels or
//! a student's predictions for a whole pool takes several calls on a large
//! task. These helpers make them in chunks of [`CHUNK`] indices and join
//! the rows in order.

use crate::error::Error;
use crate::matrix::Matrix;
use crate::student::Student;
use crate::task;

/// Pool indices per host call in the `*_chunked` helpers: far below the
/// default `max-indices-per-call`, large enough that the per-call cost is
/// negligible.
pub const CHUNK: usize = 4096;

/// [`task::weak_probs`] for any number of indices, in calls of at most
/// [`CHUNK`] indices: one row per index, in order.
pub fn weak_probs_chunked(indices: &[u32]) -> Result<Matrix, Error> {
    rows_in_chunks(indices, task::num_classes(), CHUNK, task::weak_probs)
}

impl Student {
    /// [`Student::predict`] for any number of indices, in calls of at most
    /// [`CHUNK`] indices: one row of class probabilities per index, in
    /// order.
    pub fn predict_chunked(&self, indices: &[u32]) -> Result<Matrix, Error> {
        rows_in_chunks(indices, task::num_classes(), CHUNK, |c| self.predict(c))
    }
}

/// Calls `read` on consecutive chunks of at most `chunk` indices and joins
/// the row-major results (rows of `cols` values) in order.
fn rows_in_chunks(
    indices: &[u32],
    cols: usize,
    chunk: usize,
    mut read: impl FnMut(&[u32]) -> Result<Matrix, Error>,
) -> Result<Matrix, Error> {
    let mut values = Vec::with_capacity(indices.len() * cols);
    for part in indices.chunks(chunk.max(1)) {
        let rows = read(part)?;
        values.extend_from_slice(rows.as_slice());
    }
    Matrix::new(values, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// A fake reader: row `[i, 10 i]` for index `i`, recording call sizes.
    fn fake(calls: &mut Vec<usize>) -> impl FnMut(&[u32]) -> Result<Matrix, Error> + '_ {
        |part: &[u32]| {
            calls.push(part.len());
            let values = part.iter().flat_map(|&i| [i as f32, 10.0 * i as f32]);
            Matrix::new(values.collect(), 2)
        }
    }

    #[test]
    fn joins_chunks_in_order() {
        let indices: Vec<u32> = (0..10).rev().collect();
        let mut calls = Vec::new();
        let m = rows_in_chunks(&indices, 2, 4, fake(&mut calls)).unwrap();
        assert_eq!(calls, [4, 4, 2]);
        assert_eq!(m.rows(), 10);
        assert_eq!(m.row(0), &[9.0, 90.0]);
        assert_eq!(m.row(9), &[0.0, 0.0]);
    }

    #[test]
    fn no_indices_no_calls() {
        let mut calls = Vec::new();
        let m = rows_in_chunks(&[], 3, 4, fake(&mut calls)).unwrap();
        assert!(calls.is_empty() && m.is_empty() && m.cols() == 3);
    }

    #[test]
    fn the_first_refusal_is_returned() {
        let err = rows_in_chunks(&[1, 2, 3], 2, 2, |_| {
            Err(Error::new(ErrorCode::InvalidArgument, "index out of range"))
        })
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
    }
}
