//! Minibatches over an ordering of pool indices.

/// Consecutive batches of `batch` indices from `order`; the last one holds
/// the remainder and may be shorter. Panics when `batch` is zero.
///
/// ```
/// let order = [4, 0, 3, 1, 2];
/// let sizes: Vec<usize> = w2s_guest_sdk::batches(&order, 2).map(<[u32]>::len).collect();
/// assert_eq!(sizes, [2, 2, 1]);
/// ```
pub fn batches(order: &[u32], batch: usize) -> std::slice::Chunks<'_, u32> {
    assert!(batch > 0, "batch size must be positive");
    order.chunks(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_remainder() {
        let order: Vec<u32> = (0..300).collect();
        let b: Vec<&[u32]> = batches(&order, 128).collect();
        assert_eq!(b.len(), 3);
        assert_eq!(b[2], &order[256..]);
    }
}
