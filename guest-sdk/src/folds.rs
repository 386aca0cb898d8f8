//! Subsets and k-fold splits of pool indices: pure functions, no host
//! calls.

/// The `fold`-th of `k` contiguous folds of `indices`: `(train, held_out)`.
/// Fold sizes differ by at most one; `k` is clamped to `1..=indices.len()`
/// and `fold` taken modulo `k`. Shuffle `indices` first (with
/// [`crate::Rng`]) for random folds.
pub fn k_fold(indices: &[u32], k: usize, fold: usize) -> (Vec<u32>, Vec<u32>) {
    let n = indices.len();
    let k = k.clamp(1, n.max(1));
    let fold = fold % k;
    let start = fold * n / k;
    let end = (fold + 1) * n / k;
    let held = indices[start..end].to_vec();
    let mut train = indices[..start].to_vec();
    train.extend_from_slice(&indices[end..]);
    (train, held)
}

/// The indices whose `keep` flag is true (`keep` shorter than `indices`
/// drops the rest).
pub fn subset(indices: &[u32], keep: &[bool]) -> Vec<u32> {
    indices
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(i, _)| *i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_partition_the_indices() {
        let idx: Vec<u32> = (0..10).collect();
        let mut seen = Vec::new();
        for f in 0..3 {
            let (train, held) = k_fold(&idx, 3, f);
            assert_eq!(train.len() + held.len(), 10);
            seen.extend(held);
        }
        assert_eq!(seen, idx);
        assert_eq!(k_fold(&[], 3, 0), (vec![], vec![]));
        assert_eq!(subset(&[4, 5, 6], &[true, false, true]), vec![4, 6]);
    }
}
