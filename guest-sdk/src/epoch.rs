//! One epoch of minibatch training on soft targets: the loop every recipe
//! in `plugins/` repeats.

use crate::batch::batches;
use crate::error::{Error, ErrorCode};
use crate::matrix::Matrix;
use crate::rng::Rng;
use crate::student::{Optimizer, Student};

/// One pass over `indices` in a fresh random order: draws
/// `rng.permutation(indices.len())`, cuts it into batches of `batch`
/// positions (the last keeps the remainder), and makes one
/// [`Student::train_step`] per batch on the pool indices at those positions,
/// with `targets` row `p` and `weights[p]` (1 when `weights` is `None`) for
/// position `p`. Returns the mean per-example loss of the epoch (each
/// step's loss is taken before its update; weighted by batch size), or 0
/// for no indices.
///
/// With `indices = task::pool_indices()`, one-hot targets and no weights,
/// this is step for step the reference recipe's epoch (`plugins/vanilla`).
/// Fails when `targets` or `weights` do not have one row per index, or
/// with the host's error; panics when `batch` is zero.
pub fn train_epoch(
    student: &mut Student,
    opt: &Optimizer,
    rng: &mut Rng,
    indices: &[u32],
    targets: &Matrix,
    weights: Option<&[f32]>,
    batch: usize,
) -> Result<f64, Error> {
    if targets.rows() != indices.len() || weights.is_some_and(|w| w.len() != indices.len()) {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            "train_epoch needs one target row and one weight per index",
        ));
    }
    let order = rng.permutation(indices.len());
    let ones = vec![1.0; batch.min(indices.len())];
    let mut loss_sum = 0.0f64;
    for positions in batches(&order, batch) {
        let batch_indices = at_positions(indices, positions);
        let batch_weights = match weights {
            Some(w) => at_positions(w, positions),
            None => ones[..positions.len()].to_vec(),
        };
        let loss = student.train_step(
            opt,
            &batch_indices,
            &targets.gather(positions),
            &batch_weights,
        )?;
        loss_sum += f64::from(loss) * positions.len() as f64;
    }
    Ok(if order.is_empty() {
        0.0
    } else {
        loss_sum / order.len() as f64
    })
}

/// `values[p]` for each position `p`, in order. Panics when a position is
/// out of range.
fn at_positions<T: Copy>(values: &[T], positions: &[u32]) -> Vec<T> {
    positions.iter().map(|&p| values[p as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_pick_values_in_order() {
        assert_eq!(at_positions(&[10u32, 11, 12, 13], &[3, 0, 3]), [13, 10, 13]);
        assert_eq!(at_positions(&[0.5f32, 2.0], &[1]), [2.0]);
    }
}
