//! The public and private parts of the test split.
//!
//! Every test example belongs to exactly one part, chosen by a fixed hash
//! of the task hash and the example's index: the first byte of
//! `sha256("w2s-test-split/v1\n" || task_hash || "\n" || index)` is even
//! for the public part, odd for the private part (about half each). The
//! rule is public and fixed, so anyone can recompute the parts of a bundle;
//! what it protects is not the membership but the separation: the public
//! figures may be shown (coarsely) during development, the private figures
//! decide rankings and are never shown, so tuning a strategy against the
//! public feedback does not carry over to the figure that ranks it.
//!
//! The split depends on the task hash, so two tasks with the same test
//! examples in the same order still split differently, and on nothing
//! else: the same bundle always splits the same way.

use sha2::{Digest, Sha256};

/// Identifies the rule above (written into reports and cache keys).
pub const SPLIT_RULE: &str = "split-v1: public iff sha256(\"w2s-test-split/v1\\n\" || task_hash || \"\\n\" || index)[0] is even";

pub use w2s_verdict::Part;

/// The part of test example `index` of the task with hash `task_hash`.
pub fn part_of(task_hash: &str, index: u32) -> Part {
    let mut h = Sha256::new();
    h.update(b"w2s-test-split/v1\n");
    h.update(task_hash.as_bytes());
    h.update(b"\n");
    h.update(index.to_string().as_bytes());
    if h.finalize()[0] % 2 == 0 {
        Part::Public
    } else {
        Part::Private
    }
}

/// The test split of one task, divided into its two parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSplit {
    parts: Vec<Part>,
    public: usize,
}

impl TestSplit {
    /// Divides `n` test examples of the task `task_hash`.
    pub fn new(task_hash: &str, n: usize) -> Self {
        let parts: Vec<Part> = (0..n)
            .map(|i| part_of(task_hash, u32::try_from(i).expect("test split fits u32")))
            .collect();
        let public = parts.iter().filter(|p| **p == Part::Public).count();
        Self { parts, public }
    }

    /// Examples in `part`.
    pub fn size(&self, part: Part) -> usize {
        match part {
            Part::Public => self.public,
            Part::Private => self.parts.len() - self.public,
        }
    }

    /// The part of test example `index`.
    pub fn part(&self, index: usize) -> Part {
        self.parts[index]
    }

    /// Accuracy on `part` of `predicted` against `labels` (both one value
    /// per test example). 0 for an empty part.
    pub fn accuracy(&self, part: Part, predicted: &[u32], labels: &[u32]) -> f64 {
        assert_eq!(
            predicted.len(),
            self.parts.len(),
            "one prediction per example"
        );
        assert_eq!(labels.len(), self.parts.len(), "one label per example");
        let correct = self
            .parts
            .iter()
            .zip(predicted.iter().zip(labels))
            .filter(|(p, (a, b))| **p == part && a == b)
            .count();
        correct as f64 / self.size(part).max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_fixed() {
        // Pinned from an independent implementation, so the rule cannot
        // drift silently (which would change every reported figure).
        let parts: Vec<Part> = (0..8).map(|i| part_of("abc", i)).collect();
        assert_eq!(parts, PINNED_ABC);
    }

    /// `part_of("abc", 0..8)`. Source: Python's hashlib,
    /// `[sha256(f"w2s-test-split/v1\nabc\n{i}".encode()).digest()[0] for i in range(8)]`
    /// is `[130, 91, 46, 79, 0, 200, 107, 12]`: even, odd, even, odd, even,
    /// even, odd, even.
    const PINNED_ABC: [Part; 8] = [
        Part::Public,
        Part::Private,
        Part::Public,
        Part::Private,
        Part::Public,
        Part::Public,
        Part::Private,
        Part::Public,
    ];

    #[test]
    fn about_half_and_half_and_depends_on_the_task() {
        let a = TestSplit::new("task-a", 3000);
        let b = TestSplit::new("task-b", 3000);
        for s in [&a, &b] {
            let public = s.size(Part::Public);
            assert!((1350..=1650).contains(&public), "{public}");
            assert_eq!(public + s.size(Part::Private), 3000);
        }
        assert_ne!(a, b);
        assert_eq!(a, TestSplit::new("task-a", 3000));
    }

    #[test]
    fn accuracy_counts_each_part_alone() {
        let s = TestSplit::new("t", 200);
        let labels = vec![1u32; 200];
        let predicted: Vec<u32> = (0..200)
            .map(|i| u32::from(part_of("t", i) == Part::Public))
            .collect();
        assert_eq!(s.accuracy(Part::Public, &predicted, &labels), 1.0);
        assert_eq!(s.accuracy(Part::Private, &predicted, &labels), 0.0);
    }
}
