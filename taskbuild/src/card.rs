//! The task card: can this task rank weak-to-strong methods?
//!
//! PGR divides by the gap between the ceiling and the weak teacher. A
//! build ends by measuring that gap the way a reader of the card would:
//! the weak teacher's test accuracy, and the ceiling of a linear probe on
//! the strong features (the bundle's, as written) trained on the pool's
//! ground truth, the same logistic probe as the weak teacher's, over
//! [`CARD_SEEDS`] seeds. The gap, its standard error and the verdict follow
//! the rule of [`w2s_verdict::gap`], which the scorer's `small-gap` flag uses
//! too.
//!
//! Only these aggregates enter the manifest's public provenance (keys
//! `card_*`): no per-example figure, no test subset.

use std::collections::BTreeMap;

use serde::Serialize;
use w2s_train::recipe;
use w2s_verdict::gap::{GapEstimate, SMALL_GAP_SES};

use crate::error::Result;
use crate::probe::{ProbeSettings, WeakProbe};

/// Seeds of the card's ceiling probe.
pub const CARD_SEEDS: usize = 5;

/// What the card says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskCard {
    /// The gap, with the accuracies it comes from.
    pub gap: GapEstimate,
    /// Whether the gap is large enough to rank methods.
    pub rankable: bool,
}

/// The features and labels a card is measured on.
pub(crate) struct CardInputs<'a> {
    /// Strong features of the pool, `(pool, dim)`.
    pub pool_features: &'a [f32],
    /// The pool's ground truth.
    pub pool_labels: &'a [u32],
    /// Strong features of the test split, `(test, dim)`.
    pub test_features: &'a [f32],
    /// The test split's ground truth.
    pub test_labels: &'a [u32],
    /// Feature width.
    pub dim: usize,
    /// Classes.
    pub classes: usize,
}

impl TaskCard {
    /// Trains the ceiling probe under [`CARD_SEEDS`] seeds derived from
    /// `seed` and compares it with `weak_test_acc`.
    pub(crate) fn measure(
        inputs: &CardInputs<'_>,
        weak_test_acc: f64,
        probe: &ProbeSettings,
        seed: u64,
    ) -> Result<Self> {
        let mut ceiling = Vec::with_capacity(CARD_SEEDS);
        for i in 0..CARD_SEEDS {
            let s = w2s_train::rng::derive_seed(seed, &format!("card/ceiling/{i}"));
            let head = WeakProbe::train(
                inputs.pool_features,
                inputs.dim,
                inputs.pool_labels,
                inputs.classes,
                probe,
                s,
            )?;
            let probs = head.predict(inputs.test_features)?;
            ceiling.push(recipe::accuracy(&probs, inputs.classes, inputs.test_labels));
        }
        Ok(Self::from_gap(GapEstimate::new(
            weak_test_acc,
            &ceiling,
            inputs.test_labels.len(),
        )))
    }

    /// The card of a measured gap.
    pub fn from_gap(gap: GapEstimate) -> Self {
        Self {
            rankable: !gap.is_small(),
            gap,
        }
    }

    /// The verdict in words, with what to change when the gap is small.
    pub fn verdict(&self) -> String {
        if self.rankable {
            format!(
                "can rank methods: the gap is {:.1} standard errors (at least {SMALL_GAP_SES} needed)",
                self.gap.ses()
            )
        } else {
            format!(
                "too small to rank methods: the gap is under {SMALL_GAP_SES} standard errors; \
                 widen it with a larger strong model, another strong layer or a weaker teacher \
                 (a lower weak layer, a smaller labeled split), or shrink its error with more data"
            )
        }
    }

    /// The card as provenance entries (`card_*`), aggregates only.
    pub fn provenance(&self) -> BTreeMap<String, String> {
        let g = &self.gap;
        [
            ("card_weak_test_acc", format!("{:.4}", g.weak_acc)),
            (
                "card_ceiling",
                format!(
                    "linear probe on the strong features, trained on the pool's ground truth, {} seeds: test accuracy {:.4} (SE {:.4})",
                    g.seeds, g.ceiling_acc, g.ceiling_se
                ),
            ),
            (
                "card_gap",
                format!(
                    "{:.4} (SE {:.4}, test split of {})",
                    g.gap, g.gap_se, g.test_size
                ),
            ),
            ("card_verdict", self.verdict()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The card as printed lines.
    pub fn lines(&self) -> Vec<String> {
        let g = &self.gap;
        vec![
            "task card:".to_owned(),
            format!("  weak teacher test accuracy: {:.4}", g.weak_acc),
            format!(
                "  ceiling (linear probe on the strong features, pool ground truth, {} seeds): {:.4} ± {:.4}",
                g.seeds, g.ceiling_acc, g.ceiling_se
            ),
            format!(
                "  gap: {:.4} ± {:.4} (SE, test split of {})",
                g.gap, g.gap_se, g.test_size
            ),
            format!("  verdict: {}", self.verdict()),
        ]
    }
}

/// The card's lines from a manifest's provenance, when it has one (bundles
/// built before the card have none).
pub fn lines_from_provenance(provenance: &BTreeMap<String, String>) -> Option<Vec<String>> {
    let get = |k: &str| provenance.get(k);
    let (weak, ceiling, gap, verdict) = (
        get("card_weak_test_acc")?,
        get("card_ceiling")?,
        get("card_gap")?,
        get("card_verdict")?,
    );
    Some(vec![
        "task card:".to_owned(),
        format!("  weak teacher test accuracy: {weak}"),
        format!("  ceiling: {ceiling}"),
        format!("  gap: {gap}"),
        format!("  verdict: {verdict}"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_gap_says_what_to_change_and_a_large_one_does_not() {
        let small = TaskCard::from_gap(GapEstimate::new(0.65, &[0.70, 0.71, 0.69], 600));
        assert!(!small.rankable);
        assert!(small.verdict().contains("too small to rank methods"));
        assert!(small.verdict().contains("larger strong model"));
        let large = TaskCard::from_gap(GapEstimate::new(0.6, &[0.9, 0.91], 1000));
        assert!(large.rankable);
        assert!(large.verdict().starts_with("can rank methods"));
        let p = small.provenance();
        assert_eq!(
            p.keys().collect::<Vec<_>>(),
            [
                "card_ceiling",
                "card_gap",
                "card_verdict",
                "card_weak_test_acc"
            ]
        );
        assert_eq!(p["card_weak_test_acc"], "0.6500");
        let lines = lines_from_provenance(&p).unwrap();
        assert_eq!(lines.len(), 5);
        assert!(lines[4].contains("too small"));
        assert!(lines_from_provenance(&BTreeMap::new()).is_none());
    }

    #[test]
    fn the_ceiling_probe_learns_separable_features() {
        // Feature 0 tells the label; feature 1 is noise.
        let rows = |n: usize| {
            let mut f = Vec::new();
            let mut l = Vec::new();
            for i in 0..n {
                let label = (i % 2) as u32;
                f.extend([if label == 1 { 1.0 } else { -1.0 }, ((i * 7) % 5) as f32]);
                l.push(label);
            }
            (f, l)
        };
        let (pf, pl) = rows(200);
        let (tf, tl) = rows(100);
        let inputs = CardInputs {
            pool_features: &pf,
            pool_labels: &pl,
            test_features: &tf,
            test_labels: &tl,
            dim: 2,
            classes: 2,
        };
        let card = TaskCard::measure(&inputs, 0.6, &ProbeSettings::default(), 3).unwrap();
        assert_eq!(card.gap.ceiling_acc, 1.0);
        assert_eq!(card.gap.seeds, CARD_SEEDS);
        assert!((card.gap.gap - 0.4).abs() < 1e-12);
        assert!(card.rankable);
    }
}
