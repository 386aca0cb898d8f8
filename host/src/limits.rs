//! Host-internal bounds that are not policy: the wasm stack, the epoch
//! tick, the lengths of texts kept. The policy's own limits and hard caps
//! live in [`w2s_policy`]; this module also maps them onto wasmtime's
//! units.

use std::time::Duration;

use w2s_policy::{ArchFamily, Policy};

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
/// resources (streams, pollables, descriptors), so a guest cannot grow host
/// memory without bound by opening them in a loop.
pub const WASI_RESOURCE_HEADROOM: usize = 1_024;
/// Most linear memories per run (a component has one or two).
pub const MAX_MEMORIES: usize = 16;
/// Most tables per run (a component has a few).
pub const MAX_TABLES: usize = 64;

/// Whether the policy allows a student of architecture `arch`.
pub(crate) fn allows(policy: &Policy, arch: w2s_train::Arch) -> bool {
    match arch {
        w2s_train::Arch::Linear => policy.students().allows(ArchFamily::Linear, 0),
        w2s_train::Arch::Mlp { hidden } => policy.students().allows(ArchFamily::Mlp, hidden),
    }
}

/// The epoch deadline in ticks of [`EPOCH_TICK`], rounded up, plus one tick
/// for the partial tick the run starts in.
pub(crate) fn epoch_ticks(policy: &Policy) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    u64::try_from(policy.guest().wall_clock().as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deadline_in_ticks() {
        assert_eq!(epoch_ticks(&Policy::default()), 12_001);
    }

    #[test]
    fn allows_checks_family_and_width() {
        let p = Policy::default();
        assert!(allows(&p, w2s_train::Arch::Linear));
        assert!(allows(&p, w2s_train::Arch::Mlp { hidden: 4096 }));
        assert!(!allows(&p, w2s_train::Arch::Mlp { hidden: 4097 }));
        assert!(!allows(&p, w2s_train::Arch::Mlp { hidden: 0 }));
        let linear_only =
            Policy::from_toml_str("version = 1\n[[students.allow]]\nfamily = \"linear\"\n")
                .unwrap();
        assert!(!allows(&linear_only, w2s_train::Arch::Mlp { hidden: 8 }));
    }
}
