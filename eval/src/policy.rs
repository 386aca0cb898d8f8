//! The policy an evaluation enforces, and where it came from.

use std::path::Path;

use serde::Serialize;
use w2s_policy::Policy;

use crate::error::{EvalError, Result};

/// Where the policy of a run came from, and what it is.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    /// `built-in default` or the file's name as given.
    pub source: String,
    /// sha256 of `effective`'s canonical JSON (see docs/POLICY.md).
    pub sha256: String,
    /// The policy in force, every default filled in.
    pub effective: Policy,
}

impl PolicyInfo {
    /// The policy at `path`, or the built-in default when `None`.
    pub fn effective(path: Option<&Path>) -> Result<Self> {
        let (source, policy) = match path {
            Some(p) => (p.display().to_string(), read(p)?),
            None => ("built-in default".to_owned(), Policy::default()),
        };
        Ok(Self::of(source, policy))
    }

    /// `policy`, said to come from `source`.
    pub fn of(source: String, policy: Policy) -> Self {
        Self {
            source,
            sha256: policy.sha256(),
            effective: policy,
        }
    }
}

/// Reads and validates a policy file; the error names the file.
pub fn read(path: &Path) -> Result<Policy> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Policy::from_toml_str(&text).map_err(|source| EvalError::Policy {
        path: path.to_path_buf(),
        source,
    })
}
