//! Named subsets of the test split (for example the AAR chat test split's
//! `helpsteer2_val` and `reward_bench_2`), held out with it.
//!
//! A bundle may list `heldout/test_subsets.json` in its manifest:
//! `{"names": [...], "of_example": [...]}`, one subset index per test
//! example. The names live only there, under `heldout/`, which only the
//! scorer reads; the manifest names the file, never a subset. This module
//! has the type and its checks (the bundle writer needs them); reading the
//! file is the scorer's (`w2s_scorer::heldout`), so that no process that
//! runs guest code links a held-out reader.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The file's path inside a bundle.
pub const HELDOUT_TEST_SUBSETS: &str = "heldout/test_subsets.json";
/// Most subsets accepted.
pub const MAX_SUBSETS: usize = 1_000;

/// The subset of every test example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSubsets {
    /// Subset names: distinct, 1 to 128 bytes each.
    pub names: Vec<String>,
    /// For each test example, an index into `names`.
    pub of_example: Vec<u32>,
}

impl TestSubsets {
    /// Groups examples by name, the names in order of first appearance.
    pub fn from_names<'a>(per_example: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut of_example = Vec::new();
        for name in per_example {
            let i = match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_owned());
                    names.len() - 1
                }
            };
            of_example.push(i as u32);
        }
        Self { names, of_example }
    }

    /// Checks the names and that there is one valid index per test example.
    pub fn validate(&self, dir: &Path, test: usize) -> Result<()> {
        let bad = |m: String| {
            Err(TrainError::Bundle {
                dir: dir.to_path_buf(),
                problem: format!("{HELDOUT_TEST_SUBSETS}: {m}"),
            })
        };
        if self.names.is_empty() || self.names.len() > MAX_SUBSETS {
            return bad(format!(
                "needs 1 to {MAX_SUBSETS} names, has {}",
                self.names.len()
            ));
        }
        for (i, n) in self.names.iter().enumerate() {
            if n.is_empty() || n.len() > 128 {
                return bad(format!("name {i} must be 1 to 128 bytes"));
            }
            if self.names[..i].contains(n) {
                return bad(format!("name {n:?} appears twice"));
            }
        }
        if self.of_example.len() != test {
            return bad(format!(
                "has {} entries; the test split has {test}",
                self.of_example.len()
            ));
        }
        if let Some(i) = self
            .of_example
            .iter()
            .position(|&s| s as usize >= self.names.len())
        {
            return bad(format!(
                "entry {i} is {}, outside 0..{}",
                self.of_example[i],
                self.names.len()
            ));
        }
        Ok(())
    }

    /// Examples in each subset, in name order.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.names.len()];
        for &s in &self.of_example {
            sizes[s as usize] += 1;
        }
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_first_appearance_and_checks_indices() {
        let s = TestSubsets::from_names(["b", "a", "b", "c"]);
        assert_eq!(s.names, ["b", "a", "c"]);
        assert_eq!(s.of_example, [0, 1, 0, 2]);
        assert_eq!(s.sizes(), [2, 1, 1]);
        let dir = Path::new("t");
        s.validate(dir, 4).unwrap();
        assert!(
            s.validate(dir, 5)
                .unwrap_err()
                .to_string()
                .contains("has 4 entries")
        );
        let mut bad = s.clone();
        bad.of_example[3] = 9;
        assert!(
            bad.validate(dir, 4)
                .unwrap_err()
                .to_string()
                .contains("entry 3 is 9")
        );
    }
}
