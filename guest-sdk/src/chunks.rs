//! Reads over many pool indices, split into calls the host accepts.
//!
//! Every `list` argument of a WIT call is bounded by the policy's
//! `max-indices-per-call` (65536 by default). These helpers split a long
//! index list into chunks of [`READ_CHUNK`], make one call per chunk and
//! join the rows, so a strategy can read the whole pool in one line.

use crate::error::{Error, ErrorCode};
use crate::matrix::Matrix;
use crate::student::Student;
use crate::task;

/// Pool indices per host call in the chunked reads (well under the default
/// `max-indices-per-call`).
pub const READ_CHUNK: usize = 4096;

/// Calls `read` on consecutive chunks of at most `chunk` indices and joins
/// the returned rows, in order, into one matrix of `cols` columns. Fails
/// with the first error `read` returns, or when a chunk's rows are not
/// `cols` wide. Panics when `chunk` is zero.
pub fn read_in_chunks(
    indices: &[u32],
    chunk: usize,
    cols: usize,
    mut read: impl FnMut(&[u32]) -> Result<Matrix, Error>,
) -> Result<Matrix, Error> {
    assert!(chunk > 0, "chunk size must be positive");
    let mut values = Vec::with_capacity(indices.len() * cols);
    for part in indices.chunks(chunk) {
        let rows = read(part)?;
        if rows.cols() != cols || rows.rows() != part.len() {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "a chunk of {} indices gave {} rows of {}, expected rows of {cols}",
                    part.len(),
                    rows.rows(),
                    rows.cols()
                ),
            ));
        }
        values.extend_from_slice(rows.as_slice());
    }
    Matrix::new(values, cols.max(1))
}

/// [`task::weak_probs`] for any number of indices, in chunks of
/// [`READ_CHUNK`]: one row of `num_classes` probabilities per index.
pub fn weak_probs_chunked(indices: &[u32]) -> Result<Matrix, Error> {
    read_in_chunks(indices, READ_CHUNK, task::num_classes(), task::weak_probs)
}

impl Student {
    /// [`Student::predict`] for any number of indices, in chunks of
    /// [`READ_CHUNK`]: one row of class probabilities per index.
    pub fn predict_chunked(&self, indices: &[u32]) -> Result<Matrix, Error> {
        read_in_chunks(indices, READ_CHUNK, task::num_classes(), |part| {
            self.predict(part)
        })
    }

    /// [`Student::hidden`] for any number of indices, in chunks of
    /// [`READ_CHUNK`]: one row of [`Student::hidden_dim`] values per index.
    pub fn hidden_chunked(&self, indices: &[u32]) -> Result<Matrix, Error> {
        read_in_chunks(indices, READ_CHUNK, self.hidden_dim(), |part| {
            self.hidden(part)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake read: row `i` is `[i, 10 * i]`.
    fn fake(part: &[u32]) -> Result<Matrix, Error> {
        let values = part
            .iter()
            .flat_map(|&i| [i as f32, 10.0 * i as f32])
            .collect();
        Matrix::new(values, 2)
    }

    #[test]
    fn chunks_are_joined_in_order() {
        let idx: Vec<u32> = (0..7).collect();
        let mut calls = Vec::new();
        let m = read_in_chunks(&idx, 3, 2, |part| {
            calls.push(part.len());
            fake(part)
        })
        .unwrap();
        assert_eq!(calls, [3, 3, 1]);
        assert_eq!(m.rows(), 7);
        assert_eq!(m.row(6), &[6.0, 60.0]);
        assert!(read_in_chunks(&[], 3, 2, fake).unwrap().is_empty());
    }

    #[test]
    fn a_wrong_width_or_an_error_stops_the_read() {
        let err = read_in_chunks(&[0, 1], 2, 3, fake).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        let err = read_in_chunks(&[0, 1], 1, 2, |_| {
            Err(Error::new(ErrorCode::NotAllowed, "no"))
        })
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotAllowed);
    }
}
