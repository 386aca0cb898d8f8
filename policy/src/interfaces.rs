//! The host interfaces a policy may name in `imports.allow`: the
//! `w2s:strategy` contract (version 0.1.x) and the WASI 0.2 interfaces the
//! sandbox links. Names are written without their version.

/// The w2s:strategy interfaces (version 0.1.x), with what each gives.
pub const W2S_INTERFACES: [(&str, &str); 6] = [
    ("w2s:strategy/types", "types shared by the w2s interfaces"),
    (
        "w2s:strategy/task",
        "the public view of the task: sizes, the run seed, the weak teacher's labels",
    ),
    (
        "w2s:strategy/student",
        "students and optimizers: create, predict, hidden, train-step, tracked forward, backward-step",
    ),
    (
        "w2s:strategy/tensor",
        "host tensors with autograd: arithmetic, softmax, reductions, indexing, losses",
    ),
    ("w2s:strategy/metrics", "log metric points into the report"),
    (
        "w2s:strategy/lm",
        "the strong language model fine-tuned with LoRA: its public description, lm-lora students",
    ),
];

/// The WASI 0.2 interfaces the sandbox links, with what each gives there.
pub const WASI_INTERFACES: [(&str, &str); 27] = [
    (
        "wasi:cli/environment",
        "environment variables and arguments (always empty)",
    ),
    (
        "wasi:cli/exit",
        "exit the run early (ends as a trap `exit:<status>`)",
    ),
    ("wasi:cli/stdin", "standard input (always empty)"),
    (
        "wasi:cli/stdout",
        "standard output (bounded, kept in the report)",
    ),
    (
        "wasi:cli/stderr",
        "standard error (bounded, kept in the report)",
    ),
    (
        "wasi:cli/terminal-input",
        "terminal type (never a terminal)",
    ),
    (
        "wasi:cli/terminal-output",
        "terminal type (never a terminal)",
    ),
    (
        "wasi:cli/terminal-stdin",
        "whether stdin is a terminal (never)",
    ),
    (
        "wasi:cli/terminal-stdout",
        "whether stdout is a terminal (never)",
    ),
    (
        "wasi:cli/terminal-stderr",
        "whether stderr is a terminal (never)",
    ),
    (
        "wasi:clocks/monotonic-clock",
        "a virtual clock: advances per read, sleeps never block",
    ),
    (
        "wasi:clocks/wall-clock",
        "a fixed wall clock (2024-01-01T00:00:00Z)",
    ),
    (
        "wasi:filesystem/preopens",
        "the preopened directories (the scratch directory or none)",
    ),
    (
        "wasi:filesystem/types",
        "file and directory operations inside preopened directories",
    ),
    ("wasi:io/error", "stream errors"),
    ("wasi:io/poll", "waiting on streams and clocks"),
    ("wasi:io/streams", "byte streams (stdout, stderr, files)"),
    (
        "wasi:random/random",
        "random bytes, derived from the run seed",
    ),
    (
        "wasi:random/insecure",
        "random bytes, derived from the run seed",
    ),
    (
        "wasi:random/insecure-seed",
        "a seed derived from the run seed",
    ),
    (
        "wasi:sockets/instance-network",
        "the network handle (no address is ever allowed)",
    ),
    (
        "wasi:sockets/ip-name-lookup",
        "name lookup (always refused)",
    ),
    (
        "wasi:sockets/network",
        "network types (no address is ever allowed)",
    ),
    ("wasi:sockets/tcp", "TCP sockets (creation refused)"),
    (
        "wasi:sockets/tcp-create-socket",
        "TCP sockets (creation refused)",
    ),
    ("wasi:sockets/udp", "UDP sockets (creation refused)"),
    (
        "wasi:sockets/udp-create-socket",
        "UDP sockets (creation refused)",
    ),
];

/// Interfaces every policy must allow: a strategy returns a `student`,
/// which is defined in `student` (and its types in `types`).
pub const REQUIRED_IMPORTS: [&str; 2] = ["w2s:strategy/types", "w2s:strategy/student"];

/// Interfaces the scratch directory needs.
pub const SCRATCH_IMPORTS: [&str; 2] = ["wasi:filesystem/preopens", "wasi:filesystem/types"];

/// The default `imports.allow`: every w2s:strategy interface but `lm` and
/// the WASI interfaces of a plain Rust wasip2 program; no sockets. `lm`
/// is left out because the default `[students]` allows no `lm_lora`
/// student (and the default policy, hence its hash, stays what it was
/// before `lm` existed): a policy that allows `lm_lora` names it.
pub const DEFAULT_IMPORTS: [&str; 25] = [
    "w2s:strategy/types",
    "w2s:strategy/task",
    "w2s:strategy/student",
    "w2s:strategy/tensor",
    "w2s:strategy/metrics",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// What the sandbox says about an import name (`ns:pkg/iface@version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportCheck {
    /// Provided by the sandbox and allowed by the policy.
    Allowed,
    /// Provided by the sandbox, but not in `imports.allow`.
    NotAllowed,
    /// Not provided by the sandbox at all (unknown interface or version).
    NotProvided,
}

/// Whether the sandbox provides `base` (a name without version) at
/// `version`: w2s:strategy at 0.1.x, WASI at 0.2.x.
pub fn is_provided(base: &str, version: &str) -> bool {
    (W2S_INTERFACES.iter().any(|(n, _)| *n == base) && version.starts_with("0.1."))
        || (WASI_INTERFACES.iter().any(|(n, _)| *n == base) && version.starts_with("0.2."))
}

/// Whether `name` (without version) is an interface the sandbox links.
pub fn is_known(name: &str) -> bool {
    describe(name).is_some()
}

/// What the interface `name` (without version) gives, if it is known.
pub fn describe(name: &str) -> Option<&'static str> {
    W2S_INTERFACES
        .iter()
        .chain(WASI_INTERFACES.iter())
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_requirements_are_known() {
        for name in DEFAULT_IMPORTS
            .iter()
            .chain(&REQUIRED_IMPORTS)
            .chain(&SCRATCH_IMPORTS)
        {
            assert!(is_known(name), "{name}");
        }
        assert!(
            !DEFAULT_IMPORTS
                .iter()
                .any(|n| n.starts_with("wasi:sockets"))
        );
    }

    #[test]
    fn versions_are_checked() {
        assert!(is_provided("wasi:cli/stdout", "0.2.6"));
        assert!(is_provided("w2s:strategy/student", "0.1.0"));
        assert!(!is_provided("wasi:cli/stdout", "0.3.0"));
        assert!(!is_provided("wasi:http/outgoing-handler", "0.2.6"));
        assert!(!is_provided("w2s:strategy/task", "9.0.0"));
    }
}
