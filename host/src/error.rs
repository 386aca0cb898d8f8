//! The crate's error types: [`HostError`] for setup and load failures, and
//! the typed traps that end a run when a limit is hit.

/// Why a sandbox could not be built or a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// wasmtime refused the engine configuration or the linker setup.
    #[error("cannot set up the wasm engine: {reason}")]
    Engine {
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component is larger than `max_wasm_bytes`.
    #[error("component is {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes do not start with the WebAssembly magic `\0asm`.
    #[error("not a WebAssembly file (no `\\0asm` magic at the start)")]
    NotWasm,
    /// A core module where a component was expected.
    #[error("this is a core WebAssembly module, not a component: build for wasm32-wasip2")]
    CoreModule,
    /// A WebAssembly binary of an unknown version or layer.
    #[error(
        "unsupported WebAssembly version/layer bytes {version:02x?}: expected a component (0d 00 01 00)"
    )]
    UnknownVersion {
        /// The four bytes after the magic.
        version: [u8; 4],
    },
    /// wasmtime could not validate or compile the component.
    #[error("component does not compile: {reason}")]
    Compile {
        /// wasmtime's explanation (truncated).
        reason: String,
    },
    /// The component imports an interface the policy does not allow, or
    /// one the sandbox does not provide at all.
    #[error("component imports `{import}`, {}", if *.provided {
        "which the policy does not allow (see `imports.allow`)"
    } else {
        "which the sandbox does not provide (only w2s:strategy 0.1 and WASI 0.2 interfaces are)"
    })]
    ImportDenied {
        /// The import's name, as the component spells it (truncated).
        import: String,
        /// Whether the sandbox provides it (so only the policy denies it).
        provided: bool,
    },
    /// Compilation took longer than `compile.timeout_ms`.
    #[error("component did not compile within {limit_ms} ms (compile.timeout_ms)")]
    CompileTimeout {
        /// The limit.
        limit_ms: u64,
    },
    /// Compilation needed more address space than `compile.memory_bytes`.
    #[error(
        "component did not compile within {limit_bytes} bytes of memory (compile.memory_bytes)"
    )]
    CompileMemory {
        /// The limit.
        limit_bytes: u64,
    },
    /// The compiling process could not be run, or failed in another way.
    #[error("the compiling process failed: {reason}")]
    CompileProcess {
        /// What happened.
        reason: String,
    },
    /// The compiled-artifact cache could not be read or written.
    #[error("compiled-artifact cache: {reason}")]
    Cache {
        /// What happened.
        reason: String,
    },
    /// An allowed import's type does not match the host's definition.
    #[error("component imports do not match the host's definitions: {reason}")]
    ImportMismatch {
        /// wasmtime's explanation (truncated).
        reason: String,
    },
    /// The `run` export is missing.
    #[error("component has no export `{export}`: it does not implement the w2s:strategy world")]
    MissingExport {
        /// The export's name.
        export: &'static str,
    },
    /// The `run` export has the wrong type.
    #[error("export `{export}` has the wrong type: expected {expected}")]
    BadExport {
        /// The export's name.
        export: &'static str,
        /// The type the world requires.
        expected: &'static str,
    },
}

impl HostError {
    /// The outcome a report gives a component that failed to load: `None`
    /// for failures that are not the component's (the engine, the cache,
    /// the compiling process itself).
    pub fn outcome(&self) -> Option<crate::Outcome> {
        match self {
            HostError::Engine { .. }
            | HostError::Cache { .. }
            | HostError::CompileProcess { .. } => None,
            HostError::ImportDenied { import, .. } => Some(crate::Outcome::ImportDenied {
                import: import.clone(),
            }),
            other => Some(crate::Outcome::InvalidModule {
                reason: other.to_string(),
            }),
        }
    }
}

/// A limit or invariant that ends a run from inside a host function. The
/// run's outcome is found with `downcast_ref::<HostTrap>()` on the error
/// wasmtime returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HostTrap {
    /// The compute budget cannot pay for the requested primitive.
    #[error("compute budget exhausted: {used} of {budget} FLOPs used, {requested} more requested")]
    ComputeBudget {
        used: u64,
        budget: u64,
        requested: u64,
    },
    /// The wall-clock deadline has passed.
    #[error("wall-clock deadline passed")]
    Timeout,
    /// One more train step would pass `max_train_steps`.
    #[error("more than {limit} train steps")]
    StepLimit { limit: u64 },
    /// Creating one more student or optimizer would pass `max_handles`.
    #[error("more than {limit} live students and optimizers")]
    HandleLimit { limit: u32 },
    /// Tensor memory would pass `tensor_bytes`.
    #[error(
        "tensor memory limit: {in_use} bytes in use, {requested} more requested, limit {limit}"
    )]
    TensorMemory {
        in_use: u64,
        requested: u64,
        limit: u64,
    },
    /// A host invariant broke (a tensor backend failure, a missing table
    /// entry). Never caused by valid or invalid guest arguments alone.
    #[error("host internal error in {what}")]
    Internal { what: &'static str },
}

/// Why the store's resource limiter refused to grow a memory or a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GrowthRefused {
    /// All linear memories together would pass `memory_bytes`.
    #[error("linear memory would grow to {desired} bytes in total, over the limit of {limit}")]
    Memory { desired: u64, limit: u64 },
    /// A table would pass `table_elements`.
    #[error("table would grow to {desired} elements, over the limit of {limit}")]
    Table { desired: u64, limit: u64 },
}

/// `text` on one printable line: every control character (newlines,
/// terminal escape sequences, ...) is written as its `\u{..}` escape.
/// Host texts that can quote a component (import names, wasmtime's
/// reasons) go through it, so nothing a component chose reaches the
/// evaluator's terminal as a control character.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\u{a}c");
        assert_eq!(printable("héllo"), "héllo");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo".to_owned(), 2), "h");
        assert_eq!(truncate("hello".to_owned(), 10), "hello");
        assert_eq!(truncate("hello".to_owned(), 3), "hel");
    }
}
