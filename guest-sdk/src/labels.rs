//! Helpers for turning probabilities into labels and labels into targets.

/// The index of the largest value (the first one on ties; NaN never wins).
/// Returns 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// A one-hot row: `k` values, 1.0 at `label` and 0.0 elsewhere. Panics when
/// `label >= k`.
pub fn one_hot(label: usize, k: usize) -> Vec<f32> {
    assert!(label < k, "label {label} >= {k} classes");
    let mut row = vec![0.0; k];
    row[label] = 1.0;
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.2, 0.5, 0.5, 0.1]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.1, 0.3]), 2);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn one_hot_row() {
        assert_eq!(one_hot(1, 3), vec![0.0, 1.0, 0.0]);
    }
}
