//! Figures per named subset of the test split (`heldout/test_subsets.json`,
//! see `w2s_train::test_subsets`), next to the overall ones.
//!
//! Each subset is measured on each part of the test split, as the overall
//! figures are: weak and ceiling accuracies in the baselines, student
//! accuracy and PGR in each student's score. A subset's PGR uses that
//! subset's own weak and ceiling accuracies, and is `None` where they leave
//! no gap (a subset can be small or easy; the overall figure still stands).

use w2s_train::test_subsets::TestSubsets;
use w2s_verdict::{PartBaselines, pgr};

use crate::splits::{Part, TestSplit};

/// Smallest gap between weak and ceiling accuracy for which a subset's PGR
/// is reported (the same bound as the overall figure's).
pub const MIN_GAP: f64 = 1e-6;

pub use w2s_verdict::{SubsetBaselines, SubsetPartScore, SubsetScore};

/// Accuracy of `predicted` on the examples of subset `s` in `part`, and
/// how many there are (accuracy 0 for none).
fn accuracy(
    split: &TestSplit,
    subsets: &TestSubsets,
    s: usize,
    part: Part,
    predicted: &[u32],
    labels: &[u32],
) -> (f64, usize) {
    let (mut n, mut correct) = (0usize, 0usize);
    for (i, &of) in subsets.of_example.iter().enumerate() {
        if of as usize == s && split.part(i) == part {
            n += 1;
            correct += usize::from(predicted[i] == labels[i]);
        }
    }
    (correct as f64 / n.max(1) as f64, n)
}

/// Baselines per subset from the weak teacher's and each ceiling seed's
/// test predictions.
pub fn baselines(
    split: &TestSplit,
    subsets: &TestSubsets,
    weak: &[u32],
    ceilings: &[Vec<u32>],
    labels: &[u32],
) -> Vec<SubsetBaselines> {
    (0..subsets.names.len())
        .map(|s| {
            let part = |p: Part| PartBaselines {
                weak_acc: accuracy(split, subsets, s, p, weak, labels).0,
                ceiling_accs: ceilings
                    .iter()
                    .map(|c| accuracy(split, subsets, s, p, c, labels).0)
                    .collect(),
            };
            SubsetBaselines {
                name: subsets.names[s].clone(),
                public_size: accuracy(split, subsets, s, Part::Public, weak, labels).1,
                private_size: accuracy(split, subsets, s, Part::Private, weak, labels).1,
                public: part(Part::Public),
                private: part(Part::Private),
            }
        })
        .collect()
}

/// A student's figures per subset.
pub fn scores(
    split: &TestSplit,
    subsets: &TestSubsets,
    baselines: &[SubsetBaselines],
    predicted: &[u32],
    labels: &[u32],
) -> Vec<SubsetScore> {
    baselines
        .iter()
        .enumerate()
        .map(|(s, b)| {
            let part = |p: Part| {
                let student_acc = accuracy(split, subsets, s, p, predicted, labels).0;
                let (weak, ceiling) = (b.part(p).weak_acc, b.part(p).ceiling_acc());
                SubsetPartScore {
                    student_acc,
                    pgr: (ceiling - weak >= MIN_GAP).then(|| pgr(student_acc, weak, ceiling)),
                }
            };
            SubsetScore {
                name: b.name.clone(),
                public: part(Part::Public),
                private: part(Part::Private),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subset_is_measured_on_its_own_examples() {
        let n = 400;
        let split = TestSplit::new("t", n);
        let subsets =
            TestSubsets::from_names((0..n).map(|i| if i % 4 == 0 { "rare" } else { "common" }));
        let labels = vec![1u32; n];
        // Weak right on "rare" only; ceiling right everywhere.
        let weak: Vec<u32> = (0..n).map(|i| u32::from(i % 4 == 0)).collect();
        let ceiling = vec![1u32; n];
        let b = baselines(
            &split,
            &subsets,
            &weak,
            std::slice::from_ref(&ceiling),
            &labels,
        );
        assert_eq!(b[0].name, "rare");
        assert_eq!(b[0].public_size + b[0].private_size, 100);
        assert_eq!((b[0].public.weak_acc, b[1].public.weak_acc), (1.0, 0.0));
        // A student as good as the ceiling: PGR 1 on "common", none on
        // "rare" (weak = ceiling there).
        let s = scores(&split, &subsets, &b, &ceiling, &labels);
        assert_eq!(s[1].private.pgr, Some(1.0));
        assert_eq!(s[0].private.pgr, None);
        assert_eq!(s[0].private.student_acc, 1.0);
    }
}
