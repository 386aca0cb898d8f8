//! The limits one run executes under, and the hard caps no policy can lift.
//!
//! [`Limits`] is a plain struct for now: a policy file (with its own serde
//! schema and a `TryFrom` into this type) comes later. Every field is set
//! explicitly, because wasmtime's own defaults are open (unbounded memory, no
//! fuel, no epochs).

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::HostError;

/// Largest linear memory a policy may allow: the whole wasm32 address space.
pub const HARD_MAX_MEMORY_BYTES: u64 = 4 << 30;
/// Most core instances a policy may allow (a Rust wasip2 guest needs 3).
pub const HARD_MAX_INSTANCES: u32 = 1_000;
/// Most table elements a policy may allow (each costs the host a pointer).
pub const HARD_MAX_TABLE_ELEMENTS: u64 = 10_000_000;
/// Most live students and optimizers a policy may allow (table entries are
/// host memory that fuel does not bound).
pub const HARD_MAX_HANDLES: u32 = 1_000_000;
/// Most pool indices per call a policy may allow (one call's host buffers).
pub const HARD_MAX_INDICES_PER_CALL: u32 = 1 << 24;
/// Largest component a policy may accept (compilation time and memory).
pub const HARD_MAX_WASM_BYTES: u64 = 1 << 30;
/// Most kept bytes of stdout or stderr (they end up in the report).
pub const HARD_MAX_OUTPUT_BYTES: u64 = 64 << 20;
/// Most metric points a policy may allow (they end up in the report).
pub const HARD_MAX_METRIC_POINTS: u32 = 10_000_000;
/// Longest wall clock a policy may allow (an epoch deadline in 10 ms ticks
/// must not overflow, and a run must end).
pub const HARD_MAX_WALL_CLOCK: Duration = Duration::from_secs(24 * 3600);

/// Longest metric name kept, in bytes (the WIT contract says 64).
pub const MAX_METRIC_NAME_BYTES: usize = 64;
/// Longest guest error message kept in an outcome, in bytes.
pub const MAX_GUEST_MESSAGE_BYTES: usize = 1024;
/// Longest wasm backtrace kept in an outcome, in bytes.
pub const MAX_BACKTRACE_BYTES: usize = 4096;
/// Native stack for wasm frames: explicit, large enough for deep guest
/// recursion in debug builds, small enough to trap long before the host
/// thread's stack ends.
pub const MAX_WASM_STACK: usize = 1 << 20;
/// Stack of the thread that runs a guest: the wasm stack plus room for the
/// host functions (candle) it calls.
pub const RUN_THREAD_STACK: usize = MAX_WASM_STACK + (8 << 20);
/// Period of the epoch ticker: the granularity of the wall-clock deadline
/// inside wasm code.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Largest `wasi:random` request served in one call (wasmtime's default,
/// 64 MiB, would let one call allocate that much host memory).
pub const MAX_RANDOM_BYTES_PER_CALL: u64 = 1 << 20;
/// Resource-table entries allowed beyond `max_handles` for WASI's own
/// resources (streams, pollables), so a guest cannot grow host memory
/// without bound by opening them in a loop.
pub const WASI_RESOURCE_HEADROOM: usize = 1_024;
/// Most linear memories per run (a component has one or two).
pub const MAX_MEMORIES: usize = 16;
/// Most tables per run (a component has a few).
pub const MAX_TABLES: usize = 64;

/// An architecture family a run may build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchFamily {
    /// A linear probe.
    Linear,
    /// A two-layer MLP.
    Mlp,
}

/// One architecture family a run may build, with its size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ArchLimit {
    /// The family.
    pub family: ArchFamily,
    /// Largest hidden width allowed (0 for linear).
    pub max_hidden: u32,
}

/// The limits of one run. [`Limits::default`] gives the built-in defaults
/// stated on each field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Fuel, in wasm instructions (roughly): 10_000_000_000 by default.
    /// Does not count time inside host functions.
    pub fuel: u64,
    /// Wall-clock deadline of the whole run (instantiation and `run`):
    /// 120 s by default. Serialized as milliseconds.
    #[serde(rename = "wall_clock_ms", serialize_with = "as_millis")]
    pub wall_clock: Duration,
    /// Bytes of all linear memories together: 256 MiB by default.
    pub memory_bytes: u64,
    /// Elements of any one table: 100_000 by default.
    pub table_elements: u64,
    /// Core instances: 16 by default (a Rust wasip2 guest needs 3).
    pub instances: u32,
    /// Live students and optimizers together: 1_000 by default.
    pub max_handles: u32,
    /// Host tensor memory in bytes (student parameters and optimizer
    /// state): 1 GiB by default.
    pub tensor_bytes: u64,
    /// Compute budget in estimated floating-point operations of the
    /// training primitives: 5e13 by default.
    pub compute_flops: u64,
    /// Longest index list one call accepts: 65_536 by default. Longer lists
    /// are an `invalid-argument` error.
    pub max_indices_per_call: u32,
    /// Metric points kept; later ones are counted and dropped: 100_000 by
    /// default.
    pub max_metric_points: u32,
    /// Bytes of stdout kept; the rest is counted and dropped: 64 KiB by
    /// default.
    pub stdout_bytes: u64,
    /// Bytes of stderr kept; the rest is counted and dropped: 64 KiB by
    /// default.
    pub stderr_bytes: u64,
    /// Largest component accepted, in bytes, checked before compiling:
    /// 64 MiB by default.
    pub max_wasm_bytes: u64,
    /// Student architectures a run may build: linear, and MLPs up to 4096
    /// hidden units, by default.
    pub allowed_archs: Vec<ArchLimit>,
}

fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000_000,
            wall_clock: Duration::from_secs(120),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 16,
            max_handles: 1_000,
            tensor_bytes: 1 << 30,
            compute_flops: 50_000_000_000_000,
            max_indices_per_call: 65_536,
            max_metric_points: 100_000,
            stdout_bytes: 64 << 10,
            stderr_bytes: 64 << 10,
            max_wasm_bytes: 64 << 20,
            allowed_archs: vec![
                ArchLimit {
                    family: ArchFamily::Linear,
                    max_hidden: 0,
                },
                ArchLimit {
                    family: ArchFamily::Mlp,
                    max_hidden: 4096,
                },
            ],
        }
    }
}

impl Limits {
    /// Checks every field against its hard cap; the error names the field.
    pub fn validate(&self) -> Result<(), HostError> {
        let bad =
            |field: &'static str, reason: String| Err(HostError::InvalidLimits { field, reason });
        let checks: [(&'static str, u64, u64, u64); 11] = [
            ("fuel", self.fuel, 1, u64::MAX),
            (
                "memory_bytes",
                self.memory_bytes,
                64 << 10,
                HARD_MAX_MEMORY_BYTES,
            ),
            (
                "table_elements",
                self.table_elements,
                1,
                HARD_MAX_TABLE_ELEMENTS,
            ),
            (
                "instances",
                self.instances.into(),
                1,
                HARD_MAX_INSTANCES.into(),
            ),
            (
                "max_handles",
                self.max_handles.into(),
                1,
                HARD_MAX_HANDLES.into(),
            ),
            ("compute_flops", self.compute_flops, 1, u64::MAX),
            (
                "max_indices_per_call",
                self.max_indices_per_call.into(),
                1,
                HARD_MAX_INDICES_PER_CALL.into(),
            ),
            (
                "max_metric_points",
                self.max_metric_points.into(),
                0,
                HARD_MAX_METRIC_POINTS.into(),
            ),
            ("stdout_bytes", self.stdout_bytes, 0, HARD_MAX_OUTPUT_BYTES),
            ("stderr_bytes", self.stderr_bytes, 0, HARD_MAX_OUTPUT_BYTES),
            (
                "max_wasm_bytes",
                self.max_wasm_bytes,
                8,
                HARD_MAX_WASM_BYTES,
            ),
        ];
        for (field, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return bad(field, format!("{value} is outside {min}..={max}"));
            }
        }
        if self.wall_clock.is_zero() || self.wall_clock > HARD_MAX_WALL_CLOCK {
            return bad(
                "wall_clock",
                format!(
                    "{:?} is outside (0, {HARD_MAX_WALL_CLOCK:?}]",
                    self.wall_clock
                ),
            );
        }
        if self.tensor_bytes == 0 {
            return bad("tensor_bytes", "must be positive".to_owned());
        }
        if self.allowed_archs.is_empty() {
            return bad(
                "allowed_archs",
                "must allow at least one architecture".to_owned(),
            );
        }
        for a in &self.allowed_archs {
            match a.family {
                ArchFamily::Linear if a.max_hidden != 0 => {
                    return bad("allowed_archs", "linear takes max_hidden = 0".to_owned());
                }
                ArchFamily::Mlp if a.max_hidden == 0 => {
                    return bad("allowed_archs", "mlp needs max_hidden > 0".to_owned());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `arch` is one of the allowed architectures.
    pub fn allows(&self, arch: w2s_train::Arch) -> bool {
        self.allowed_archs.iter().any(|a| match (a.family, arch) {
            (ArchFamily::Linear, w2s_train::Arch::Linear) => true,
            (ArchFamily::Mlp, w2s_train::Arch::Mlp { hidden }) => {
                hidden >= 1 && hidden <= a.max_hidden
            }
            _ => false,
        })
    }

    /// The epoch deadline in ticks of [`EPOCH_TICK`], rounded up, plus one
    /// tick for the partial tick the run starts in.
    pub(crate) fn epoch_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        u64::try_from(self.wall_clock.as_nanos().div_ceil(tick))
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let l = Limits::default();
        l.validate().unwrap();
        assert_eq!(l.fuel, 10_000_000_000);
        assert_eq!(l.wall_clock, Duration::from_secs(120));
        assert_eq!(l.memory_bytes, 268_435_456);
        assert_eq!(l.compute_flops, 5e13 as u64);
        assert_eq!(l.epoch_ticks(), 12_001);
    }

    #[test]
    fn validate_names_the_field() {
        let l = Limits {
            memory_bytes: HARD_MAX_MEMORY_BYTES + 1,
            ..Limits::default()
        };
        assert!(matches!(
            l.validate(),
            Err(HostError::InvalidLimits {
                field: "memory_bytes",
                ..
            })
        ));
        let l = Limits {
            allowed_archs: vec![],
            ..Limits::default()
        };
        assert!(matches!(
            l.validate(),
            Err(HostError::InvalidLimits {
                field: "allowed_archs",
                ..
            })
        ));
    }

    #[test]
    fn allows_checks_family_and_width() {
        let l = Limits::default();
        assert!(l.allows(w2s_train::Arch::Linear));
        assert!(l.allows(w2s_train::Arch::Mlp { hidden: 4096 }));
        assert!(!l.allows(w2s_train::Arch::Mlp { hidden: 4097 }));
        assert!(!l.allows(w2s_train::Arch::Mlp { hidden: 0 }));
        let linear_only = Limits {
            allowed_archs: vec![ArchLimit {
                family: ArchFamily::Linear,
                max_hidden: 0,
            }],
            ..l
        };
        assert!(!linear_only.allows(w2s_train::Arch::Mlp { hidden: 8 }));
    }

    #[test]
    fn serializes_wall_clock_as_millis() {
        let v = serde_json::to_value(Limits::default()).unwrap();
        assert_eq!(v["wall_clock_ms"], 120_000);
        assert_eq!(v["allowed_archs"][1]["family"], "mlp");
    }
}
