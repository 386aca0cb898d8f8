//! The crate's one error type.

/// Why the process could not be confined.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// Landlock is there but refused the ruleset or a rule.
    #[error("landlock: {reason}")]
    Landlock {
        /// The crate's message.
        reason: String,
    },
    /// The seccomp filter did not compile or install.
    #[error("seccomp: {reason}")]
    Seccomp {
        /// The crate's message.
        reason: String,
    },
    /// A resource limit could not be set.
    #[error("setrlimit {limit}: {source}")]
    Rlimit {
        /// Which limit.
        limit: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// `no_new_privs` could not be read.
    #[error("no_new_privs: {source}")]
    NoNewPrivs {
        /// The OS error.
        source: std::io::Error,
    },
    /// Confinement was required and a layer is missing on this kernel.
    #[error("confinement is required, and this kernel lacks: {layers}")]
    Missing {
        /// The missing layers, comma-separated.
        layers: String,
    },
}
