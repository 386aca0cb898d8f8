//! The OS layer under the wasm sandbox.
//!
//! wasmtime is the first layer: a guest reaches the host only through the
//! imports the policy allows. This crate is the second, for the case where
//! the first fails (a wasmtime escape gives the guest native code in the
//! process). The process that runs guest code (`w2s-runner`) calls
//! [`confine`] before it reads a byte of the guest, and from then on the
//! kernel itself refuses:
//!
//! - **Landlock** ([`paths`]): every file outside the paths of the
//!   [`Plan`] (read: the task's `public/` and manifest, the lm task's model
//!   files, the compiled-component cache, the executable and its libraries;
//!   read and write: the run's own output directory). TCP `bind` and
//!   `connect` are refused where the kernel's ABI has them (4 and up), and
//!   abstract Unix sockets and signals outside the process where it has
//!   scopes (6 and up).
//! - **seccomp** ([`syscalls`]): creating sockets, `execve`/`execveat`,
//!   `ptrace`, new processes (`fork`, `vfork`, `clone` without
//!   `CLONE_THREAD`), and the few calls that reach around the rest
//!   (`io_uring`, `bpf`, namespaces, mounts). Threads stay allowed:
//!   wasmtime's epoch ticker and run thread, and the training pool, need
//!   them.
//! - **`no_new_privs`**, which both of the above require, and which keeps
//!   set-uid binaries from granting anything (there is no `exec` anyway).
//! - **rlimits** ([`limits`]): address space, no core dumps, file size.
//!
//! Each layer is applied on its own; [`Applied`] says which took effect on
//! this kernel, and a report carries it. [`Plan::require`] turns a missing
//! layer into an error instead.
//!
//! # Design decisions
//!
//! - **Kept crates, no hand-rolled syscalls**: `landlock` (the Landlock
//!   maintainers'), `seccompiler` (rust-vmm's, Firecracker's), `rustix` for
//!   `setrlimit` and `prctl`.
//! - **Deny-list seccomp**: the filter allows by default and refuses the
//!   calls above with `EPERM` (`clone3` with `ENOSYS`, so that the C
//!   library falls back to `clone`, whose flags the filter can see). An
//!   allow-list would have to follow every syscall wasmtime, candle and the
//!   C library make, on every kernel; Landlock already closes the file
//!   system, and the deny-list closes what Landlock does not cover.
//! - **Applied once, on the main thread, before any other thread exists**:
//!   both Landlock and seccomp bind the calling thread and what it spawns
//!   later.

mod error;
pub mod limits;
pub mod paths;
pub mod syscalls;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use error::ConfineError;

/// What to confine the process to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Files and directories the process may read (each path and what is
    /// beneath it). Paths that do not exist are skipped.
    pub read: Vec<PathBuf>,
    /// Directories the process may read and write (and create files in).
    pub write: Vec<PathBuf>,
    /// Address-space limit in bytes, on top of what the process has mapped
    /// when it confines itself (`RLIMIT_AS`).
    pub address_space_bytes: u64,
    /// Largest file the process may write, in bytes (`RLIMIT_FSIZE`).
    pub file_size_bytes: u64,
    /// Fail unless every layer took effect in full.
    pub require: bool,
}

/// Which layers took effect on this kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// `abi N` (the Landlock ABI enforced, in full), `partial abi N`, or
    /// why it did not apply (`not enabled`, `not implemented`).
    pub landlock: String,
    /// Whether TCP `bind` and `connect` are refused by Landlock (ABI 4+).
    pub landlock_tcp: bool,
    /// Whether the seccomp filter is installed.
    pub seccomp: bool,
    /// Whether `no_new_privs` is set.
    pub no_new_privs: bool,
    /// Whether the address-space, core and file-size limits are set.
    pub rlimits: bool,
}

impl Applied {
    /// Nothing applied: the process runs unconfined.
    pub fn none(why: &str) -> Self {
        Self {
            landlock: why.to_owned(),
            landlock_tcp: false,
            seccomp: false,
            no_new_privs: false,
            rlimits: false,
        }
    }

    /// The layers that did not take effect in full, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.landlock.starts_with("abi ") {
            missing.push("landlock");
        }
        if !self.landlock_tcp {
            missing.push("landlock-tcp");
        }
        for (on, name) in [
            (self.seccomp, "seccomp"),
            (self.no_new_privs, "no-new-privs"),
            (self.rlimits, "rlimits"),
        ] {
            if !on {
                missing.push(name);
            }
        }
        missing
    }
}

/// Confines the calling process to `plan`: rlimits, then Landlock (which
/// sets `no_new_privs`), then seccomp. Call it on the main thread before
/// any other thread starts. A layer the kernel lacks is reported in
/// [`Applied`], or is an error when [`Plan::require`] is set; a layer the
/// kernel has but refused to install is always an error.
pub fn confine(plan: &Plan) -> Result<Applied, ConfineError> {
    limits::apply(plan)?;
    let landlock = paths::apply(plan)?;
    syscalls::apply()?;
    let no_new_privs = rustix::thread::no_new_privs()
        .map_err(|e| ConfineError::NoNewPrivs { source: e.into() })?;
    let applied = Applied {
        landlock: landlock.describe(),
        landlock_tcp: landlock.tcp,
        seccomp: true,
        no_new_privs,
        rlimits: true,
    };
    let missing = applied.missing();
    if plan.require && !missing.is_empty() {
        return Err(ConfineError::Missing {
            layers: missing.join(", "),
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_each_layer_that_did_not_apply() {
        let full = Applied {
            landlock: "abi 7".into(),
            landlock_tcp: true,
            seccomp: true,
            no_new_privs: true,
            rlimits: true,
        };
        assert!(full.missing().is_empty());
        let old_kernel = Applied {
            landlock: "partial abi 3".into(),
            landlock_tcp: false,
            ..full.clone()
        };
        assert_eq!(old_kernel.missing(), ["landlock", "landlock-tcp"]);
        assert_eq!(
            Applied::none("unconfined").missing(),
            [
                "landlock",
                "landlock-tcp",
                "seccomp",
                "no-new-privs",
                "rlimits"
            ]
        );
    }
}
