//! The w2s sandbox policy: what an untrusted strategy may do, in one file.
//!
//! ```
//! let text = "version = 1\n[guest]\nfuel = 1_000_000\n";
//! let policy = w2s_policy::Policy::from_toml_str(text).unwrap();
//! assert_eq!(policy.guest().fuel, 1_000_000);
//! assert_eq!(policy.sha256().len(), 64);
//! ```
//!
//! # Design decisions
//!
//! **Its own crate, plain serde types.** Like extism's `manifest` crate, the
//! policy has no wasmtime in it: the CLI checks and explains policies, the
//! host enforces them, and a reviewer reads this crate alone to know what
//! each field means.
//!
//! **Two stages.** [`PolicyFile`] is exactly what the TOML says:
//! `deny_unknown_fields` everywhere, the `version` pinned to `1` by its type
//! ([`file::Version1`]), no `flatten` and no `untagged`, so every mistake is
//! a precise parse error. [`Policy`] is built from it only through
//! `TryFrom`, which checks every number against its minimum and hard cap
//! ([`caps`]) and the fields against each other; its fields are private,
//! so a [`Policy`] is valid by construction. Errors ([`PolicyError`]) are
//! one line and name the field or fields at fault.
//!
//! **Defaults are the built-in policy.** A field left out takes the value
//! [`Policy::default`] has, which is exactly
//! `examples/policies/default.toml` (a test checks they are equal), and
//! `w2s policy explain` shows every value in force, defaults included.
//!
//! **The hash names the effective policy.** [`Policy::canonical_json`] is
//! the compact JSON of the validated policy (fields in declaration order,
//! defaults filled in, imports sorted); [`Policy::sha256`] hashes those
//! bytes. Two files that differ only in comments, layout or spelled-out
//! defaults have the same hash.

pub mod caps;
mod error;
pub mod explain;
pub mod file;
pub mod interfaces;
mod lora_rule;
mod validate;

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use error::PolicyError;
pub use file::{
    ArchFamily, CompileLimits, GuestLimits, HostLimits, IoLimits, LoraTarget, PolicyFile,
};
pub use interfaces::ImportCheck;

/// Where the scratch directory appears inside the guest.
pub const SCRATCH_GUEST_PATH: &str = "/scratch";
/// Scratch quota when `scratch = true` and no quota is given: 64 MiB.
pub const DEFAULT_SCRATCH_QUOTA_BYTES: u64 = 64 << 20;

/// One architecture family a run may build, with its size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ArchLimit {
    /// The family.
    pub family: ArchFamily,
    /// Widest hidden layer allowed, in units (0 for linear).
    pub max_hidden: u32,
}

/// The bounds of `lm_lora` students (the task's strong model fine-tuned
/// with low-rank adapters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LoraLimit {
    /// Largest adapter rank.
    pub max_rank: u32,
    /// Decoder blocks (0-based, sorted) that may carry adapters; `None`:
    /// every block of the task's strong model.
    pub layers: Option<Vec<u32>>,
    /// Projections that may carry adapters, sorted, at least one.
    pub targets: Vec<LoraTarget>,
}

impl LoraLimit {
    /// Whether adapters of `rank` on `layers` and `targets` are allowed.
    pub fn allows(&self, rank: u32, layers: &[u32], targets: &[LoraTarget]) -> bool {
        rank >= 1
            && rank <= self.max_rank
            && targets.iter().all(|t| self.targets.contains(t))
            && self
                .layers
                .as_ref()
                .is_none_or(|allowed| layers.iter().all(|l| allowed.contains(l)))
    }
}

/// Which students may be built, and what may be read from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Students {
    /// Allowed head families (`linear`, `mlp`), each at most once.
    pub allow: Vec<ArchLimit>,
    /// The `lm_lora` rule, when the policy allows it (never by default).
    /// Left out of the canonical JSON when absent, so policies without it
    /// keep the hash they had before `lm_lora` existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraLimit>,
    /// Whether `student.hidden` may be called.
    pub read_hidden: bool,
}

impl Students {
    /// Whether a student of `family` with `hidden` units (0 for linear) is
    /// allowed.
    pub fn allows(&self, family: ArchFamily, hidden: u32) -> bool {
        self.allow.iter().any(|a| {
            a.family == family
                && match family {
                    ArchFamily::Linear => true,
                    ArchFamily::Mlp => hidden >= 1 && hidden <= a.max_hidden,
                    ArchFamily::LmLora => false,
                }
        })
    }
}

/// The scratch directory, when the policy grants one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scratch {
    /// Where the guest sees it: always [`SCRATCH_GUEST_PATH`].
    pub guest_path: String,
    /// Bytes the guest may write during a run.
    pub quota_bytes: u64,
}

/// The filesystem the guest sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filesystem {
    /// `None`: no directory at all.
    pub scratch: Option<Scratch>,
}

/// The interfaces a guest may import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imports {
    /// Interface names without version, sorted.
    pub allow: BTreeSet<String>,
}

impl Imports {
    /// What the policy says about the import `name` as a component spells
    /// it (`ns:pkg/iface@version`).
    pub fn check(&self, name: &str) -> ImportCheck {
        let Some((base, version)) = name.split_once('@') else {
            return ImportCheck::NotProvided;
        };
        if !interfaces::is_provided(base, version) {
            ImportCheck::NotProvided
        } else if self.allow.contains(base) {
            ImportCheck::Allowed
        } else {
            ImportCheck::NotAllowed
        }
    }
}

/// A validated policy. Build it with `TryFrom<PolicyFile>` (or
/// [`Policy::from_toml_str`]); [`Policy::default`] is the built-in policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    version: file::Version1,
    guest: GuestLimits,
    host: HostLimits,
    io: IoLimits,
    compile: CompileLimits,
    students: Students,
    filesystem: Filesystem,
    imports: Imports,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::try_from(PolicyFile::default()).expect("the built-in policy is valid")
    }
}

impl Policy {
    /// Parses and validates a policy file's text.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::syntax(&e, text))?;
        Policy::try_from(file)
    }

    /// `[guest]`: fuel, deadline, linear memory, tables, instances.
    pub fn guest(&self) -> &GuestLimits {
        &self.guest
    }

    /// `[host]`: handles, tensor memory, call sizes, compute, steps.
    pub fn host(&self) -> &HostLimits {
        &self.host
    }

    /// `[io]`: output kept, component size, audit log size.
    pub fn io(&self) -> &IoLimits {
        &self.io
    }

    /// `[compile]`: compilation deadline and address space.
    pub fn compile(&self) -> &CompileLimits {
        &self.compile
    }

    /// `[students]`: allowed architectures, hidden representations.
    pub fn students(&self) -> &Students {
        &self.students
    }

    /// `[filesystem]`: the scratch directory, if any.
    pub fn filesystem(&self) -> &Filesystem {
        &self.filesystem
    }

    /// `[imports]`: the interfaces a guest may import.
    pub fn imports(&self) -> &Imports {
        &self.imports
    }

    /// The compact JSON of the effective policy: what [`Policy::sha256`]
    /// hashes, and what reports carry.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a policy serializes")
    }

    /// sha256 of [`Policy::canonical_json`], lowercase hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_values() {
        let p = Policy::default();
        assert_eq!(p.guest().fuel, 10_000_000_000);
        assert_eq!(p.guest().wall_clock_ms, 120_000);
        assert_eq!(p.guest().memory_bytes, 268_435_456);
        assert_eq!(p.host().compute_flops, 5e13 as u64);
        assert_eq!(p.filesystem().scratch, None);
        assert!(p.students().read_hidden);
        assert!(p.students().allows(ArchFamily::Mlp, 4096));
        assert!(!p.students().allows(ArchFamily::Mlp, 4097));
        assert!(!p.students().allows(ArchFamily::Mlp, 0));
        assert!(p.students().allows(ArchFamily::Linear, 0));
    }

    #[test]
    fn lm_lora_is_denied_by_default_and_bounded_when_allowed() {
        assert_eq!(Policy::default().students().lora, None);
        assert!(
            !Policy::default().canonical_json().contains("lora"),
            "the default policy's hash must not change"
        );
        let p = Policy::from_toml_str(
            "version = 1\n[students]\nallow = [{ family = \"lm_lora\", max_rank = 8, layers = [2, 0], targets = [\"v\", \"q\"] }]\n",
        )
        .unwrap();
        let l = p.students().lora.as_ref().unwrap();
        assert_eq!(l.layers, Some(vec![0, 2]));
        assert_eq!(l.targets, vec![LoraTarget::Q, LoraTarget::V]);
        assert!(l.allows(8, &[0, 2], &[LoraTarget::Q]));
        assert!(!l.allows(9, &[0], &[LoraTarget::Q]));
        assert!(!l.allows(0, &[0], &[LoraTarget::Q]));
        assert!(!l.allows(4, &[1], &[LoraTarget::Q]));
        assert!(!l.allows(4, &[0], &[LoraTarget::K]));
        assert!(p.students().allow.is_empty());
        let all = Policy::from_toml_str(
            "version = 1\n[students]\nallow = [{ family = \"lm_lora\", max_rank = 32 }]\n",
        )
        .unwrap();
        let l = all.students().lora.as_ref().unwrap();
        assert!(l.allows(32, &[0, 35], &LoraTarget::ALL));
    }

    #[test]
    fn version_alone_is_the_default_policy() {
        assert_eq!(
            Policy::from_toml_str("version = 1").unwrap(),
            Policy::default()
        );
    }

    #[test]
    fn hash_ignores_layout_and_spelled_out_defaults() {
        let a = Policy::from_toml_str("version = 1").unwrap();
        let b =
            Policy::from_toml_str("# hi\nversion = 1\n[guest]\nfuel = 10_000_000_000\n").unwrap();
        assert_eq!(a.sha256(), b.sha256());
        let c = Policy::from_toml_str("version = 1\n[guest]\nfuel = 5\n").unwrap();
        assert_ne!(a.sha256(), c.sha256());
        assert!(
            a.canonical_json()
                .starts_with("{\"version\":1,\"guest\":{\"fuel\":")
        );
    }

    #[test]
    fn imports_are_checked_by_name_and_version() {
        let p = Policy::default();
        let i = p.imports();
        assert_eq!(i.check("wasi:cli/stdout@0.2.6"), ImportCheck::Allowed);
        assert_eq!(i.check("wasi:sockets/tcp@0.2.6"), ImportCheck::NotAllowed);
        assert_eq!(i.check("wasi:cli/stdout"), ImportCheck::NotProvided);
        assert_eq!(i.check("evil:net/x@1.0.0"), ImportCheck::NotProvided);
    }

    #[test]
    fn scratch_gets_the_default_quota() {
        let p = Policy::from_toml_str("version = 1\n[filesystem]\nscratch = true\n").unwrap();
        assert_eq!(
            p.filesystem().scratch,
            Some(Scratch {
                guest_path: "/scratch".to_owned(),
                quota_bytes: DEFAULT_SCRATCH_QUOTA_BYTES
            })
        );
    }

    #[test]
    fn errors_name_the_fields() {
        let e = |t: &str| Policy::from_toml_str(t).unwrap_err().to_string();
        assert!(e("version = 2").contains("unsupported policy version 2"));
        assert!(e("[guest]\nfuel = 1").contains("missing field `version`"));
        assert!(e("version = 1\n[guest]\nmemory_bytes = 1024").contains("`guest.memory_bytes`"));
        let c = e("version = 1\n[filesystem]\nscratch_quota_bytes = 10");
        assert!(
            c.contains(
                "`filesystem.scratch_quota_bytes` conflicts with `filesystem.scratch = false`"
            ),
            "{c}"
        );
        assert!(
            e("version = 1\nsurprise = 3")
                .starts_with("line 2, column 1: unknown field `surprise`")
        );
    }
}
