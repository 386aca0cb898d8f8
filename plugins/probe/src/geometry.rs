//! The probe's linear algebra on hidden states: class centroids
//! (difference in means), nearest-centroid labels and the top principal
//! directions. Pure functions in `f64`, no host calls.

use w2s_guest_sdk::{Matrix, Rng};

/// Power-iteration steps per principal direction.
const POWER_STEPS: usize = 100;

/// The mean row of `h` for each class `0..k`, with `labels[i]` the class of
/// row `i`. A class without rows gets the mean of all rows.
pub(crate) fn centroids(h: &Matrix, labels: &[usize], k: usize) -> Vec<Vec<f64>> {
    let d = h.cols();
    let mut sums = vec![vec![0.0f64; d]; k];
    let mut counts = vec![0usize; k];
    let mut all = vec![0.0f64; d];
    for (row, &c) in h.iter_rows().zip(labels) {
        counts[c] += 1;
        for ((s, a), &v) in sums[c].iter_mut().zip(all.iter_mut()).zip(row) {
            *s += f64::from(v);
            *a += f64::from(v);
        }
    }
    let n = labels.len().max(1) as f64;
    sums.into_iter()
        .zip(counts)
        .map(|(s, count)| match count {
            0 => all.iter().map(|a| a / n).collect(),
            _ => s.into_iter().map(|v| v / count as f64).collect(),
        })
        .collect()
}

/// The index of the centroid nearest (Euclidean) to each row of `h`; the
/// first one on ties.
pub(crate) fn nearest(h: &Matrix, centroids: &[Vec<f64>]) -> Vec<usize> {
    h.iter_rows()
        .map(|row| {
            let mut best = (0, f64::INFINITY);
            for (c, mu) in centroids.iter().enumerate() {
                let dist: f64 = row
                    .iter()
                    .zip(mu)
                    .map(|(&v, m)| (f64::from(v) - m).powi(2))
                    .sum();
                if dist < best.1 {
                    best = (c, dist);
                }
            }
            best.0
        })
        .collect()
}

/// Rows of `h` centred and projected on its top `count` principal
/// directions (eigenvectors of the covariance, by power iteration with
/// deflation from start vectors drawn from `rng`). `count` is clamped to
/// the width of `h`.
pub(crate) fn principal_projection(h: &Matrix, count: usize, rng: &mut Rng) -> Matrix {
    let d = h.cols();
    let n = h.rows().max(1) as f64;
    let mut mean = vec![0.0f64; d];
    for row in h.iter_rows() {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v) / n;
        }
    }
    // Covariance (upper triangle, then mirrored).
    let mut cov = vec![0.0f64; d * d];
    let mut centred = vec![0.0f64; d];
    for row in h.iter_rows() {
        for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = f64::from(v) - m;
        }
        for a in 0..d {
            let ca = centred[a];
            for b in a..d {
                cov[a * d + b] += ca * centred[b];
            }
        }
    }
    for a in 0..d {
        for b in a..d {
            cov[a * d + b] /= n;
            cov[b * d + a] = cov[a * d + b];
        }
    }
    let mut directions: Vec<Vec<f64>> = Vec::new();
    for _ in 0..count.min(d) {
        let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for _ in 0..POWER_STEPS {
            let mut next: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                .collect();
            for u in &directions {
                let dot: f64 = next.iter().zip(u).map(|(x, y)| x * y).sum();
                next.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            v = next.into_iter().map(|x| x / norm).collect();
        }
        directions.push(v);
    }
    let mut values = Vec::with_capacity(h.rows() * directions.len());
    for row in h.iter_rows() {
        for u in &directions {
            let dot: f64 = row
                .iter()
                .zip(&mean)
                .zip(u)
                .map(|((&v, m), x)| (f64::from(v) - m) * x)
                .sum();
            values.push(dot as f32);
        }
    }
    Matrix::new(values, directions.len().max(1)).expect("one value per direction per row")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroids_are_class_means() {
        let h = Matrix::new(vec![0.0, 0.0, 2.0, 2.0, 10.0, 0.0], 2).unwrap();
        let c = centroids(&h, &[0, 0, 1], 3);
        assert_eq!(c[0], [1.0, 1.0]);
        assert_eq!(c[1], [10.0, 0.0]);
        // Class 2 has no rows: the mean of all rows.
        assert_eq!(c[2], [4.0, 2.0 / 3.0]);
        assert_eq!(nearest(&h, &c[..2]), [0, 0, 1]);
    }

    #[test]
    fn the_top_direction_is_the_spread_axis() {
        // Points spread along (1, 1) with a little noise across it: the
        // first principal direction is ±(1, 1)/√2, so the projection is
        // ±(x + y)/√2 of the centred point.
        let h = Matrix::new(
            vec![-2.0, -2.1, -1.0, -0.9, 0.0, 0.1, 1.0, 0.9, 2.0, 2.0],
            2,
        )
        .unwrap();
        let p = principal_projection(&h, 1, &mut Rng::new(1));
        assert_eq!((p.rows(), p.cols()), (5, 1));
        let first = p.row(0)[0].abs();
        let expected = ((-2.0 - 0.0) + (-2.1 - 0.0)) / 2f64.sqrt();
        assert!((f64::from(first) - expected.abs()).abs() < 0.05, "{first}");
        // Clamped to the width.
        assert_eq!(principal_projection(&h, 5, &mut Rng::new(1)).cols(), 2);
    }
}
