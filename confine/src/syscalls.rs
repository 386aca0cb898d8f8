//! The seccomp layer: the system calls a confined process never makes.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::ConfineError;

/// Refused outright, with `EPERM`: sockets (so no network and no Unix
/// socket to another process), running programs, tracing, new processes,
/// and the calls that reach around Landlock and seccomp themselves
/// (`io_uring` runs socket and file operations that seccomp does not see;
/// `bpf`, namespaces and mounts change what the kernel enforces;
/// `process_vm_*` reads and writes other processes).
/// (Syscall numbers are `c_long`, 64 bits on the two architectures
/// seccompiler supports.)
const DENIED: [(&str, i64); 20] = [
    ("socket", libc::SYS_socket),
    ("socketpair", libc::SYS_socketpair),
    ("execve", libc::SYS_execve),
    ("execveat", libc::SYS_execveat),
    ("ptrace", libc::SYS_ptrace),
    ("fork", libc::SYS_fork),
    ("vfork", libc::SYS_vfork),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("bpf", libc::SYS_bpf),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("mount", libc::SYS_mount),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
];

/// The names of the calls the filter refuses (`clone` without
/// `CLONE_THREAD` and `clone3` besides these).
pub fn denied() -> impl Iterator<Item = &'static str> {
    DENIED.iter().map(|(name, _)| *name)
}

fn seccomp_err(e: impl std::fmt::Display) -> ConfineError {
    ConfineError::Seccomp {
        reason: e.to_string(),
    }
}

fn arch() -> Result<TargetArch, ConfineError> {
    std::env::consts::ARCH.try_into().map_err(seccomp_err)
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: libc::c_int,
) -> Result<BpfProgram, ConfineError> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch()?,
    )
    .map_err(seccomp_err)?;
    filter.try_into().map_err(seccomp_err)
}

/// The main filter: [`DENIED`], and `clone` without `CLONE_THREAD` (a new
/// process; a thread sets it), with `EPERM`.
fn main_filter() -> Result<BpfProgram, ConfineError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|(_, nr)| (*nr, Vec::new())).collect();
    let new_process = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        0,
    )
    .map_err(seccomp_err)?;
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![new_process]).map_err(seccomp_err)?],
    );
    compile(rules, libc::EPERM)
}

/// `clone3` passes its flags in memory, where a filter cannot look: it
/// fails with `ENOSYS`, and the C library starts threads with `clone`.
fn clone3_filter() -> Result<BpfProgram, ConfineError> {
    compile(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        libc::ENOSYS,
    )
}

/// Installs both filters on this thread (and the threads it starts
/// later). seccompiler sets `no_new_privs` first, as the kernel requires.
pub fn apply() -> Result<(), ConfineError> {
    let clone3 = clone3_filter()?;
    let main = main_filter()?;
    seccompiler::apply_filter(&clone3).map_err(seccomp_err)?;
    seccompiler::apply_filter(&main).map_err(seccomp_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filters_compile_for_this_architecture() {
        assert!(!main_filter().unwrap().is_empty());
        assert!(!clone3_filter().unwrap().is_empty());
        assert!(denied().any(|n| n == "execve"));
    }
}
