//! The noisy channel between the true label and the weak teacher's label:
//! a `K x K` row-stochastic matrix `T[y][w] = P(weak = w | true = y)`, its
//! M-step and the E-step posterior. Pure functions, no host calls.

use w2s_guest_sdk::Matrix;

/// A class-transition matrix, row-major, `k * k` values; row `y` is the
/// distribution of the weak label given true class `y`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Channel {
    k: usize,
    t: Vec<f64>,
}

impl Channel {
    /// M-step: `T[y][w] ∝ prior * [y = w] + 1 + sum_i q_i(y) * [weak_i = w]`,
    /// each row normalised. `q` has one row of `k` posteriors per example;
    /// `weak` the weak label of each example. The `+ 1` (Laplace) keeps
    /// every cell positive; `prior` is the Dirichlet pseudo-count that
    /// favours a clean channel.
    pub(crate) fn estimate(q: &Matrix, weak: &[usize], prior: f64) -> Self {
        let k = q.cols();
        let mut t = vec![1.0f64; k * k];
        for y in 0..k {
            t[y * k + y] += prior;
        }
        for (row, &w) in q.iter_rows().zip(weak) {
            for (y, &p) in row.iter().enumerate() {
                t[y * k + w] += f64::from(p);
            }
        }
        for row in t.chunks_exact_mut(k) {
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= sum);
        }
        Self { k, t }
    }

    /// `T[y][w]`.
    pub(crate) fn get(&self, y: usize, w: usize) -> f64 {
        self.t[y * self.k + w]
    }

    /// Mean of the diagonal: the channel's estimated accuracy averaged
    /// over true classes.
    pub(crate) fn mean_diagonal(&self) -> f64 {
        (0..self.k).map(|y| self.get(y, y)).sum::<f64>() / self.k as f64
    }

    /// E-step: `q_i(y) ∝ p_i(y) * T[y][weak_i]` for each example, from the
    /// student's probabilities `p` (one row per example). A row whose
    /// products are all zero falls back to the one-hot weak label.
    pub(crate) fn posterior(&self, p: &Matrix, weak: &[usize]) -> Matrix {
        let k = self.k;
        let mut values = Vec::with_capacity(p.rows() * k);
        for (row, &w) in p.iter_rows().zip(weak) {
            let joint: Vec<f64> = (0..k).map(|y| f64::from(row[y]) * self.get(y, w)).collect();
            let sum: f64 = joint.iter().sum();
            if sum > 0.0 && sum.is_finite() {
                values.extend(joint.iter().map(|v| (v / sum) as f32));
            } else {
                values.extend((0..k).map(|y| if y == w { 1.0 } else { 0.0 }));
            }
        }
        Matrix::new(values, k).expect("k columns per row")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_step_counts_posteriors_with_the_prior() {
        // Two examples, two classes: q = [1, 0] with weak 0, q = [1, 0] with
        // weak 1. Counts for true class 0: [1 + 2 + 1, 1 + 1] = [4, 2];
        // for true class 1: [1 + 2, 1] = [3, 1] (prior 2 on the diagonal).
        let q = Matrix::new(vec![1.0, 0.0, 1.0, 0.0], 2).unwrap();
        let c = Channel::estimate(&q, &[0, 1], 2.0);
        assert!((c.get(0, 0) - 4.0 / 6.0).abs() < 1e-12);
        assert!((c.get(0, 1) - 2.0 / 6.0).abs() < 1e-12);
        assert!((c.get(1, 1) - 3.0 / 4.0).abs() < 1e-12);
        assert!((c.mean_diagonal() - (4.0 / 6.0 + 3.0 / 4.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn e_step_is_bayes_rule() {
        // T = [[0.8, 0.2], [0.4, 0.6]], set directly to pin the arithmetic.
        let c = Channel {
            k: 2,
            t: vec![0.8, 0.2, 0.4, 0.6],
        };
        let p = Matrix::new(vec![0.5, 0.5, 0.0, 0.0], 2).unwrap();
        let q = c.posterior(&p, &[1, 0]);
        // Row 0: [0.5 * 0.2, 0.5 * 0.6] / 0.4 = [0.25, 0.75].
        assert!((q.row(0)[0] - 0.25).abs() < 1e-7);
        assert!((q.row(0)[1] - 0.75).abs() < 1e-7);
        // Row 1: all-zero student probabilities fall back to the weak label.
        assert_eq!(q.row(1), &[1.0, 0.0]);
    }
}
