//! Transitional: the flat `Limits` struct the host took before policy files
//! existed, kept so that code written against it still builds while it
//! moves to [`Policy`] (build a [`w2s_policy::PolicyFile`], set its pub
//! fields, and `Policy::try_from` it). New code should not use it; it will
//! be removed.

use std::time::Duration;

use w2s_policy::file::{ArchRule, PolicyFile};
use w2s_policy::{ArchFamily, ArchLimit, Policy};

use crate::error::HostError;

/// The pre-policy limits, field for field. [`Limits::default`] is the
/// built-in policy's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `guest.fuel`.
    pub fuel: u64,
    /// `guest.wall_clock_ms`.
    pub wall_clock: Duration,
    /// `guest.memory_bytes`.
    pub memory_bytes: u64,
    /// `guest.table_elements`.
    pub table_elements: u64,
    /// `guest.instances`.
    pub instances: u32,
    /// `host.max_handles`.
    pub max_handles: u32,
    /// `host.tensor_bytes`.
    pub tensor_bytes: u64,
    /// `host.compute_flops`.
    pub compute_flops: u64,
    /// `host.max_indices_per_call`.
    pub max_indices_per_call: u32,
    /// `host.max_metric_points`.
    pub max_metric_points: u32,
    /// `io.stdout_bytes`.
    pub stdout_bytes: u64,
    /// `io.stderr_bytes`.
    pub stderr_bytes: u64,
    /// `io.max_wasm_bytes`.
    pub max_wasm_bytes: u64,
    /// `students.allow`.
    pub allowed_archs: Vec<ArchLimit>,
}

impl Default for Limits {
    fn default() -> Self {
        let p = Policy::default();
        let (g, h, io) = (p.guest(), p.host(), p.io());
        Self {
            fuel: g.fuel,
            wall_clock: g.wall_clock(),
            memory_bytes: g.memory_bytes,
            table_elements: g.table_elements,
            instances: g.instances,
            max_handles: h.max_handles,
            tensor_bytes: h.tensor_bytes,
            compute_flops: h.compute_flops,
            max_indices_per_call: h.max_indices_per_call,
            max_metric_points: h.max_metric_points,
            stdout_bytes: io.stdout_bytes,
            stderr_bytes: io.stderr_bytes,
            max_wasm_bytes: io.max_wasm_bytes,
            allowed_archs: p.students().allow.clone(),
        }
    }
}

impl Limits {
    /// The default policy with these values, validated.
    pub fn to_policy(&self) -> Result<Policy, HostError> {
        let mut f = PolicyFile::default();
        f.guest.fuel = self.fuel;
        f.guest.wall_clock_ms = u64::try_from(self.wall_clock.as_millis()).unwrap_or(u64::MAX);
        f.guest.memory_bytes = self.memory_bytes;
        f.guest.table_elements = self.table_elements;
        f.guest.instances = self.instances;
        f.host.max_handles = self.max_handles;
        f.host.tensor_bytes = self.tensor_bytes;
        f.host.compute_flops = self.compute_flops;
        f.host.max_indices_per_call = self.max_indices_per_call;
        f.host.max_metric_points = self.max_metric_points;
        f.io.stdout_bytes = self.stdout_bytes;
        f.io.stderr_bytes = self.stderr_bytes;
        f.io.max_wasm_bytes = self.max_wasm_bytes;
        f.students.allow = self
            .allowed_archs
            .iter()
            .map(|a| ArchRule {
                family: a.family,
                max_hidden: (a.family == ArchFamily::Mlp).then_some(a.max_hidden),
            })
            .collect();
        Policy::try_from(f).map_err(HostError::InvalidPolicy)
    }
}

/// What [`crate::Sandbox::new`] accepts: a [`Policy`], or (transitional)
/// [`Limits`].
pub trait IntoPolicy {
    /// The validated policy.
    fn into_policy(self) -> Result<Policy, HostError>;
}

impl IntoPolicy for Policy {
    fn into_policy(self) -> Result<Policy, HostError> {
        Ok(self)
    }
}

impl IntoPolicy for Limits {
    fn into_policy(self) -> Result<Policy, HostError> {
        self.to_policy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_the_default_policy() {
        assert_eq!(Limits::default().to_policy().unwrap(), Policy::default());
        let l = Limits {
            instances: 1,
            ..Limits::default()
        };
        assert!(matches!(l.to_policy(), Err(HostError::InvalidPolicy(_))));
    }
}
