//! The arithmetic of evolution strategies (Salimans et al. 2017): fitness
//! shaping by centered ranks and the antithetic gradient estimate. Pure
//! functions, no host calls.

/// Centered ranks: the values' ranks (0 for the smallest) divided by
/// `n - 1`, minus 0.5, so they span `[-0.5, 0.5]`; tied values share the
/// mean of their ranks. Makes the update invariant to monotone transforms
/// of the fitness. One value gives 0.
pub(crate) fn centered_ranks(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0f64; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let mean_rank = (start + end - 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mean_rank / (n - 1) as f64 - 0.5;
        }
        start = end;
    }
    ranks
}

/// The antithetic estimate of the gradient of the smoothed fitness:
/// `sum_j (plus_j - minus_j) * eps_j / (2 * P * sigma)`, where `eps_j` is
/// the j-th of `P` standard-normal directions, evaluated at `theta + sigma
/// eps_j` (shaped fitness `plus_j`) and `theta - sigma eps_j` (`minus_j`).
/// Every direction has the parameters' length.
pub(crate) fn antithetic_gradient(
    directions: &[Vec<f32>],
    plus: &[f64],
    minus: &[f64],
    sigma: f32,
) -> Vec<f32> {
    let len = directions.first().map_or(0, Vec::len);
    let mut grad = vec![0.0f64; len];
    for ((eps, p), m) in directions.iter().zip(plus).zip(minus) {
        let w = p - m;
        for (g, &e) in grad.iter_mut().zip(eps) {
            *g += w * f64::from(e);
        }
    }
    let scale = 1.0 / (2.0 * directions.len().max(1) as f64 * f64::from(sigma));
    grad.into_iter().map(|g| (g * scale) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_centered_and_ties_share() {
        assert_eq!(centered_ranks(&[3.0, 1.0, 2.0]), [0.5, -0.5, 0.0]);
        // Ranks 0, 1.5, 1.5, 3 over n - 1 = 3.
        assert_eq!(centered_ranks(&[0.0, 5.0, 5.0, 9.0]), [-0.5, 0.0, 0.0, 0.5]);
        assert_eq!(centered_ranks(&[7.0]), [0.0]);
        assert!(centered_ranks(&[]).is_empty());
    }

    #[test]
    fn gradient_points_towards_the_better_side() {
        // One direction [1, -2]; the plus side scored 0.5 and the minus side
        // -0.5, so the estimate is 1 * [1, -2] / (2 * 1 * 0.5) = [1, -2].
        let g = antithetic_gradient(&[vec![1.0, -2.0]], &[0.5], &[-0.5], 0.5);
        assert_eq!(g, [1.0, -2.0]);
        // Equal scores on both sides cancel.
        let g = antithetic_gradient(&[vec![1.0, -2.0]], &[0.2], &[0.2], 0.5);
        assert_eq!(g, [0.0, 0.0]);
    }
}
