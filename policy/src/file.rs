//! The policy file, version 1: plain serde types, exactly what the TOML
//! says. Every section and field is optional and defaults to the built-in
//! default policy (`examples/policies/default.toml` spells it out); unknown
//! fields are errors. Check a parsed file into a [`crate::Policy`] with
//! `TryFrom`.
//!
//! The numeric sections ([`GuestLimits`], [`HostLimits`], [`IoLimits`],
//! [`CompileLimits`]) are also what the validated policy holds: their
//! fields need no conversion, only range checks.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::interfaces::DEFAULT_IMPORTS;

/// The policy format version, pinned by type: it reads and writes as the
/// integer `1` and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Version1;

impl Serialize for Version1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for Version1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if v == 1 {
            Ok(Version1)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported policy version {v}: this w2s reads version 1"
            )))
        }
    }
}

/// A policy file as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Must be `1`. Required.
    pub version: Version1,
    /// What wasm code may use.
    #[serde(default)]
    pub guest: GuestLimits,
    /// What the guest may make the host do.
    #[serde(default)]
    pub host: HostLimits,
    /// Output kept, and sizes of what comes in.
    #[serde(default)]
    pub io: IoLimits,
    /// Bounds on compiling the component.
    #[serde(default)]
    pub compile: CompileLimits,
    /// Which students may be built, and what may be read from them.
    #[serde(default)]
    pub students: StudentsFile,
    /// The optional scratch directory.
    #[serde(default)]
    pub filesystem: FilesystemFile,
    /// Which host interfaces the guest may import.
    #[serde(default)]
    pub imports: ImportsFile,
}

/// `[guest]`: what wasm code may use. Fuel and the deadline stop wasm code;
/// time inside host functions is bounded by the deadline too (every host
/// call checks it) and by the compute budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuestLimits {
    /// Fuel, in wasm instructions (roughly one unit per instruction), for
    /// instantiation and `run` together. Default 10_000_000_000.
    pub fuel: u64,
    /// Wall-clock deadline of the whole run (instantiation and `run`), in
    /// milliseconds, enforced in 10 ms epochs. Default 120_000 (2 minutes).
    pub wall_clock_ms: u64,
    /// Bytes of all linear memories together. Default 268_435_456 (256 MiB).
    pub memory_bytes: u64,
    /// Elements of any one table. Default 100_000.
    pub table_elements: u64,
    /// Core wasm instances. Default 32 (a Rust wasip2 guest needs 3, a
    /// Python one built by `w2s guest build` 17).
    pub instances: u32,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000_000,
            wall_clock_ms: 120_000,
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 32,
        }
    }
}

impl GuestLimits {
    /// The wall-clock deadline as a duration.
    pub fn wall_clock(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.wall_clock_ms)
    }
}

/// `[host]`: what the guest may make the host do through the training
/// primitives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostLimits {
    /// Live students and optimizers together, in handles. Default 1_000.
    pub max_handles: u32,
    /// Host tensor memory (student parameters and optimizer state), in
    /// bytes. Default 1_073_741_824 (1 GiB).
    pub tensor_bytes: u64,
    /// `f32` values in any one list or tensor of one call (targets, weights,
    /// predictions, hidden representations, gathered features), in
    /// elements. A longer one is an `invalid-argument` error. Default
    /// 16_777_216 (64 MiB of `f32`).
    pub max_elements_per_call: u64,
    /// Pool indices in one call, in indices. A longer list is an
    /// `invalid-argument` error. Default 65_536.
    pub max_indices_per_call: u32,
    /// Compute budget, in estimated floating-point operations of the
    /// training primitives. Default 50_000_000_000_000 (5e13).
    pub compute_flops: u64,
    /// Training steps (`train-step` calls that ran), in steps. Default
    /// 1_000_000.
    pub max_train_steps: u64,
    /// Metric points kept, in points; later ones are counted and dropped.
    /// Default 100_000.
    pub max_metric_points: u32,
}

impl Default for HostLimits {
    fn default() -> Self {
        Self {
            max_handles: 1_000,
            tensor_bytes: 1 << 30,
            max_elements_per_call: 1 << 24,
            max_indices_per_call: 65_536,
            compute_flops: 50_000_000_000_000,
            max_train_steps: 1_000_000,
            max_metric_points: 100_000,
        }
    }
}

/// `[io]`: output kept, and sizes of what comes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IoLimits {
    /// Bytes of stdout kept; the rest is counted and dropped (a note in the
    /// report, not a failure). Default 65_536 (64 KiB).
    pub stdout_bytes: u64,
    /// Bytes of stderr kept, likewise. Default 65_536 (64 KiB).
    pub stderr_bytes: u64,
    /// Largest component accepted, in bytes, checked before compiling.
    /// Default 67_108_864 (64 MiB).
    pub max_wasm_bytes: u64,
    /// Largest audit log (`--audit`), in bytes; past it, records are
    /// counted, not written. Default 67_108_864 (64 MiB).
    pub audit_bytes: u64,
}

impl Default for IoLimits {
    fn default() -> Self {
        Self {
            stdout_bytes: 64 << 10,
            stderr_bytes: 64 << 10,
            max_wasm_bytes: 64 << 20,
            audit_bytes: 64 << 20,
        }
    }
}

/// `[compile]`: bounds on compiling the component, which happens in a child
/// process before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompileLimits {
    /// Wall-clock limit of compilation, in milliseconds; the compiling
    /// process is killed past it. Default 60_000 (1 minute).
    pub timeout_ms: u64,
    /// Address space the compiling process may add to what it has mapped
    /// at start-up, in bytes. Default 4_294_967_296 (4 GiB).
    pub memory_bytes: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            timeout_ms: 60_000,
            memory_bytes: 4 << 30,
        }
    }
}

/// A student architecture family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchFamily {
    /// A linear probe over the strong features.
    Linear,
    /// A two-layer MLP (features -> hidden, ReLU -> classes).
    Mlp,
    /// The task's strong model fine-tuned with low-rank adapters (LoRA).
    LmLora,
}

/// One entry of `students.allow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchRule {
    /// `"linear"`, `"mlp"` or `"lm_lora"`.
    pub family: ArchFamily,
    /// Widest hidden layer allowed, in units: required for `mlp`, not
    /// allowed for the other families.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hidden: Option<u32>,
    /// `lm_lora` only, and required there: the largest adapter rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rank: Option<u32>,
    /// `lm_lora` only: the decoder blocks (0-based) that may carry
    /// adapters. Default: every block of the task's strong model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<u32>>,
    /// `lm_lora` only: the projections that may carry adapters. Default:
    /// all seven (`q`, `k`, `v`, `o`, `gate`, `up`, `down`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<LoraTarget>>,
}

/// A projection of a decoder block that a LoRA adapter can wrap (Hugging
/// Face's `q_proj` ... `down_proj`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// The query projection.
    Q,
    /// The key projection.
    K,
    /// The value projection.
    V,
    /// The attention output projection.
    O,
    /// The MLP's gate projection.
    Gate,
    /// The MLP's up projection.
    Up,
    /// The MLP's down projection.
    Down,
}

impl LoraTarget {
    /// Every target, in block order.
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::Q,
        LoraTarget::K,
        LoraTarget::V,
        LoraTarget::O,
        LoraTarget::Gate,
        LoraTarget::Up,
        LoraTarget::Down,
    ];

    /// The name used in policy files (`q`, ..., `down`).
    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::Q => "q",
            LoraTarget::K => "k",
            LoraTarget::V => "v",
            LoraTarget::O => "o",
            LoraTarget::Gate => "gate",
            LoraTarget::Up => "up",
            LoraTarget::Down => "down",
        }
    }
}

/// `[students]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentsFile {
    /// The architectures a guest may build (and return). Default: `linear`,
    /// and `mlp` up to 4096 hidden units (no `lm_lora`: fine-tuning the
    /// strong model needs a compute budget sized for it).
    pub allow: Vec<ArchRule>,
    /// Whether `student.hidden` may read a student's hidden representation;
    /// when `false` it returns the WIT `not-allowed` error. Default `true`.
    pub read_hidden: bool,
}

impl Default for StudentsFile {
    fn default() -> Self {
        Self {
            allow: vec![
                ArchRule {
                    family: ArchFamily::Linear,
                    max_hidden: None,
                    max_rank: None,
                    layers: None,
                    targets: None,
                },
                ArchRule {
                    family: ArchFamily::Mlp,
                    max_hidden: Some(4096),
                    max_rank: None,
                    layers: None,
                    targets: None,
                },
            ],
            read_hidden: true,
        }
    }
}

/// `[filesystem]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemFile {
    /// Whether the guest gets a scratch directory: a fresh, empty directory
    /// per run, visible at `/scratch`, deleted after the run. Default
    /// `false`: no directory at all.
    pub scratch: bool,
    /// Bytes the guest may write to the scratch directory during a run;
    /// only with `scratch = true`. Default 67_108_864 (64 MiB) when the
    /// scratch directory is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch_quota_bytes: Option<u64>,
}

/// `[imports]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportsFile {
    /// Interfaces the guest may import, without version (`wasi:cli/stdout`,
    /// `w2s:strategy/task`). A component importing anything else is
    /// rejected at load time, naming the import. Default: the four
    /// `w2s:strategy` interfaces and the WASI 0.2 `cli`, `clocks`, `io`,
    /// `random` and `filesystem` interfaces; no sockets.
    pub allow: Vec<String>,
}

impl Default for ImportsFile {
    fn default() -> Self {
        Self {
            allow: DEFAULT_IMPORTS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}
