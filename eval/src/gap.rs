//! The `small-gap` check: the weak-ceiling gap of the scorer's baselines on
//! the whole test split (both parts, weighted by size), against its
//! standard error, by the rule of [`w2s_verdict::gap`] that the task card of
//! `w2s task build` uses too.

use w2s_verdict::gap::GapEstimate;
use w2s_verdict::{Part, ScoreSet};

/// The gap of the scorer's baselines on the whole test split.
pub fn test_gap(set: &ScoreSet) -> GapEstimate {
    let sizes = [
        (Part::Public, set.split.public_size),
        (Part::Private, set.split.private_size),
    ];
    let n: usize = sizes.iter().map(|(_, s)| s).sum();
    let weighted = |value: &dyn Fn(Part) -> f64| {
        sizes
            .iter()
            .map(|&(part, size)| value(part) * size as f64)
            .sum::<f64>()
            / n.max(1) as f64
    };
    let b = &set.baselines;
    let weak = weighted(&|p| b.part(p).weak_acc);
    let seeds = b
        .public
        .ceiling_accs
        .len()
        .min(b.private.ceiling_accs.len());
    let ceiling: Vec<f64> = (0..seeds)
        .map(|i| weighted(&|p| b.part(p).ceiling_accs[i]))
        .collect();
    GapEstimate::new(weak, &ceiling, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(public: (f64, [f64; 2]), private: (f64, [f64; 2]), sizes: (usize, usize)) -> ScoreSet {
        let json = serde_json::json!({
            "task_hash": "t", "scorer_version": "0",
            "split": {"rule": "r", "public_size": sizes.0, "private_size": sizes.1},
            "baselines": {"ceiling_seeds": [1, 2], "recipe": "x",
                "public": {"weak_acc": public.0, "ceiling_accs": public.1},
                "private": {"weak_acc": private.0, "ceiling_accs": private.1}},
            "baseline_cache": {"status": "hit"}, "students": []
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn both_parts_count_by_their_size() {
        let g = test_gap(&set((0.5, [0.6, 0.8]), (0.7, [0.8, 1.0]), (100, 300)));
        assert!((g.weak_acc - 0.65).abs() < 1e-12, "{g:?}");
        assert!((g.ceiling_acc - 0.85).abs() < 1e-12, "{g:?}");
        assert_eq!(g.test_size, 400);
        assert_eq!(g.seeds, 2);
    }

    #[test]
    fn a_gap_of_a_few_points_on_a_small_test_is_small() {
        assert!(test_gap(&set((0.65, [0.7, 0.7]), (0.65, [0.7, 0.7]), (300, 300))).is_small());
        assert!(!test_gap(&set((0.6, [0.9, 0.9]), (0.6, [0.9, 0.9]), (300, 300))).is_small());
    }
}
