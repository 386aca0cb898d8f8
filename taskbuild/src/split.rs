//! The generic JSONL format's split rule.

use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};

/// How a generic JSONL file is divided: each row goes to the labeled
/// split, the test split or the pool by a hash of the seed and its line
/// number (`u = first 8 bytes of sha256("w2s-jsonl-split/v1\n{seed}\n{line}")
/// / 2^64`: labeled if `u < labeled`, test if `u < labeled + test`, pool
/// otherwise), so the split does not depend on the rows' content or order
/// elsewhere in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRule {
    /// Fraction for the weak teacher's labeled split.
    pub labeled: f64,
    /// Fraction for the test split.
    pub test: f64,
}

impl Default for SplitRule {
    /// A quarter labeled, a quarter test, half pool.
    fn default() -> Self {
        Self {
            labeled: 0.25,
            test: 0.25,
        }
    }
}

impl std::str::FromStr for SplitRule {
    type Err = BuildError;
    /// `labeled=0.25,test=0.25` (the pool gets the rest).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |m: String| BuildError::invalid("split rule", format!("{s:?}: {m}"));
        let mut rule = SplitRule {
            labeled: -1.0,
            test: -1.0,
        };
        for part in s.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not key=fraction")))?;
            let v: f64 = value
                .trim()
                .parse()
                .map_err(|_| bad(format!("{value:?} is not a number")))?;
            match key.trim() {
                "labeled" => rule.labeled = v,
                "test" => rule.test = v,
                other => return Err(bad(format!("unknown key {other:?} (labeled, test)"))),
            }
        }
        let ok = |v: f64| v > 0.0 && v < 1.0;
        if !ok(rule.labeled) || !ok(rule.test) || rule.labeled + rule.test >= 1.0 {
            return Err(bad(
                "needs labeled and test in (0, 1), summing below 1 (the pool gets the rest)".into(),
            ));
        }
        Ok(rule)
    }
}

impl std::fmt::Display for SplitRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "labeled={},test={}", self.labeled, self.test)
    }
}

/// Which split (0 labeled, 1 test, 2 pool) line `line` goes to.
pub(crate) fn split_of(seed: u64, line: usize, rule: SplitRule) -> usize {
    let digest = Sha256::digest(format!("w2s-jsonl-split/v1\n{seed}\n{line}").as_bytes());
    let u = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) as f64 / 2f64.powi(64);
    if u < rule.labeled {
        0
    } else if u < rule.labeled + rule.test {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_rule_is_seeded_and_parses() {
        let rule: SplitRule = "labeled=0.5,test=0.25".parse().unwrap();
        assert_eq!(
            rule,
            SplitRule {
                labeled: 0.5,
                test: 0.25
            }
        );
        assert!("labeled=0.7,test=0.3".parse::<SplitRule>().is_err());
        let counts = |seed| {
            (0..4000).fold([0; 3], |mut c, l| {
                c[split_of(seed, l, rule)] += 1;
                c
            })
        };
        let c = counts(1);
        assert!(
            (1850..2150).contains(&c[0]) && (850..1150).contains(&c[1]),
            "{c:?}"
        );
        assert_ne!(counts(1), counts(2));
    }
}
