//! A small row-major matrix of `f32`: class probabilities, hidden
//! representations, one-hot targets.

use crate::error::{Error, ErrorCode};
use crate::labels::argmax;

/// A row-major matrix with a fixed row width, as the WIT functions return
/// them (`rows * cols` values in one list).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    values: Vec<f32>,
    cols: usize,
}

impl Matrix {
    /// Wraps row-major `values` with rows of `cols` values. Fails when
    /// `cols` is zero or does not divide `values.len()`.
    pub fn new(values: Vec<f32>, cols: usize) -> Result<Self, Error> {
        if cols == 0 || !values.len().is_multiple_of(cols) {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("{} values do not form rows of {cols}", values.len()),
            ));
        }
        Ok(Self { values, cols })
    }

    /// One one-hot row per label, `num_classes` wide. Panics when
    /// `num_classes` is zero or a label is not below it.
    pub fn one_hot(labels: &[usize], num_classes: usize) -> Self {
        assert!(num_classes > 0, "one-hot rows need at least one class");
        let mut values = vec![0.0; labels.len() * num_classes];
        for (row, &label) in values.chunks_exact_mut(num_classes).zip(labels) {
            assert!(
                label < num_classes,
                "label {label} >= {num_classes} classes"
            );
            row[label] = 1.0;
        }
        Self {
            values,
            cols: num_classes,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len() / self.cols
    }

    /// Number of values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether the matrix has no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `i`. Panics when `i >= self.rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows, in order.
    pub fn iter_rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.cols)
    }

    /// The column of row `i`'s largest value (the first one on ties), for
    /// example the predicted class of a probability row.
    pub fn argmax(&self, i: usize) -> usize {
        argmax(self.row(i))
    }

    /// [`Matrix::argmax`] of every row: hard labels from probabilities.
    pub fn argmax_rows(&self) -> Vec<usize> {
        self.iter_rows().map(argmax).collect()
    }

    /// The rows at `positions`, concatenated row-major: for example the
    /// targets of one minibatch out of a matrix with one row per pool index.
    /// Panics when a position is out of range.
    pub fn gather(&self, positions: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(positions.len() * self.cols);
        for &p in positions {
            out.extend_from_slice(self.row(p as usize));
        }
        out
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// The values, row-major, without copying.
    pub fn into_vec(self) -> Vec<f32> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_argmax() {
        let m = Matrix::new(vec![0.1, 0.9, 0.7, 0.3, 0.5, 0.5], 2).unwrap();
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(1), &[0.7, 0.3]);
        assert_eq!(m.argmax_rows(), vec![1, 0, 0]);
    }

    #[test]
    fn ragged_values_are_refused() {
        assert!(Matrix::new(vec![1.0; 5], 2).is_err());
        assert!(Matrix::new(vec![], 0).is_err());
        assert!(Matrix::new(vec![], 3).unwrap().is_empty());
    }

    #[test]
    fn one_hot_then_gather() {
        let m = Matrix::one_hot(&[2, 0, 1], 3);
        assert_eq!(m.gather(&[2, 0]), vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }
}
