//! The Landlock layer: files, TCP, and scopes.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};

use crate::{ConfineError, Plan};

/// The Landlock ABI this build asks for: file access with `truncate` and
/// device `ioctl` (3, 5), TCP `bind`/`connect` (4), and scopes for
/// abstract Unix sockets and signals (6). On a kernel with less, the
/// ruleset is applied as far as the kernel goes and [`Landlock`] says how
/// far.
pub const TARGET_ABI: ABI = ABI::V7;

/// What every process needs to keep running once confined, read-only: the
/// dynamic libraries (the loader mapped them already, but the C library
/// opens some lazily), its own `/proc/self` (memory maps, thread ids), and
/// the CPU and cgroup files that size thread pools. None of them holds a
/// task's data or a secret (the runner starts with an empty environment).
pub const PROCESS_READ: [&str; 9] = [
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/proc/self",
    "/proc/cpuinfo",
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
];

/// How far Landlock went on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landlock {
    /// The ABI in force (0: none).
    pub abi: i32,
    /// Whether every access right asked for is enforced.
    pub full: bool,
    /// Whether TCP `bind` and `connect` are refused.
    pub tcp: bool,
    /// Why nothing applied, when nothing did.
    pub absent: Option<&'static str>,
}

impl Landlock {
    /// `abi 7`, `partial abi 3`, `not enabled`, `not implemented`.
    pub fn describe(&self) -> String {
        match (self.absent, self.full) {
            (Some(why), _) => why.to_owned(),
            (None, true) => format!("abi {}", self.abi),
            (None, false) => format!("partial abi {}", self.abi),
        }
    }
}

fn landlock_err(e: impl std::fmt::Display) -> ConfineError {
    ConfineError::Landlock {
        reason: e.to_string(),
    }
}

fn existing(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    paths.into_iter().filter(|p| p.exists()).collect()
}

/// The executable itself, read-only (some loaders and unwinders reopen it).
fn own_executable() -> Vec<PathBuf> {
    std::env::current_exe().into_iter().collect()
}

/// Restricts this thread, and every thread it starts later, to the plan's
/// paths and to no TCP. Sets `no_new_privs`.
pub fn apply(plan: &Plan) -> Result<Landlock, ConfineError> {
    let read: Vec<PathBuf> = existing(
        PROCESS_READ
            .iter()
            .map(PathBuf::from)
            .chain(own_executable())
            .chain(plan.read.iter().cloned()),
    );
    let write = existing(plan.write.iter().cloned());
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(landlock_err)?
        .handle_access(AccessNet::from_all(TARGET_ABI))
        .map_err(landlock_err)?
        .scope(Scope::from_all(TARGET_ABI))
        .map_err(landlock_err)?
        .create()
        .map_err(landlock_err)?
        .add_rules(path_beneath_rules(
            read.iter().map(PathBuf::as_path),
            AccessFs::from_read(TARGET_ABI),
        ))
        .map_err(landlock_err)?
        .add_rules(path_beneath_rules(
            write.iter().map(PathBuf::as_path),
            AccessFs::from_all(TARGET_ABI),
        ))
        .map_err(landlock_err)?
        .restrict_self()
        .map_err(landlock_err)?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
        _ => 0,
    };
    let absent = match status.landlock {
        LandlockStatus::NotEnabled => Some("not enabled"),
        LandlockStatus::NotImplemented => Some("not implemented"),
        LandlockStatus::Available { .. } if status.ruleset == RulesetStatus::NotEnforced => {
            Some("not enforced")
        }
        LandlockStatus::Available { .. } => None,
    };
    Ok(Landlock {
        abi,
        full: status.ruleset == RulesetStatus::FullyEnforced,
        tcp: absent.is_none() && abi >= 4,
        absent,
    })
}
