//! Hard caps and minimums: bounds no policy file can move. Each has a
//! one-line reason.

/// Largest linear memory total: the whole wasm32 address space.
pub const HARD_MAX_MEMORY_BYTES: u64 = 4 << 30;
/// Smallest linear memory total: a Rust wasm32-wasip2 guest needs about
/// 1.1 MiB (its stack and data) before `run` is even called.
pub const MIN_MEMORY_BYTES: u64 = 2 << 20;
/// Most core instances: each costs the host setup work and memory.
pub const HARD_MAX_INSTANCES: u32 = 1_000;
/// Fewest core instances: a Rust wasip2 guest instantiates 3 (its module,
/// the WASI adapter, and the glue between them).
pub const MIN_INSTANCES: u32 = 3;
/// Most elements in one table: each costs the host a pointer.
pub const HARD_MAX_TABLE_ELEMENTS: u64 = 10_000_000;
/// Longest wall clock: an epoch deadline in 10 ms ticks must not overflow,
/// and a run must end within a day.
pub const HARD_MAX_WALL_CLOCK_MS: u64 = 24 * 3600 * 1000;
/// Most live students and optimizers: table entries are host memory that
/// fuel does not bound.
pub const HARD_MAX_HANDLES: u32 = 1_000_000;
/// Largest host tensor memory: more than any machine this runs on has.
pub const HARD_MAX_TENSOR_BYTES: u64 = 1 << 40;
/// Most `f32` values in one call's lists and tensors (1 GiB of them): one
/// call's host buffers.
pub const HARD_MAX_ELEMENTS_PER_CALL: u64 = 1 << 28;
/// Most pool indices in one call: one call's host buffers.
pub const HARD_MAX_INDICES_PER_CALL: u32 = 1 << 24;
/// Most metric points kept: they end up in the report.
pub const HARD_MAX_METRIC_POINTS: u32 = 10_000_000;
/// Most kept bytes of stdout or stderr: they end up in the report.
pub const HARD_MAX_OUTPUT_BYTES: u64 = 64 << 20;
/// Largest component: compilation time and memory grow with it.
pub const HARD_MAX_WASM_BYTES: u64 = 1 << 30;
/// Smallest component cap: the wasm header alone is 8 bytes.
pub const MIN_WASM_BYTES: u64 = 8;
/// Largest audit log: it is written to the evaluator's disk.
pub const HARD_MAX_AUDIT_BYTES: u64 = 1 << 30;
/// Smallest audit log: room for the summary line, which is always written.
pub const MIN_AUDIT_BYTES: u64 = 64 << 10;
/// Widest MLP hidden layer: a student's parameters must fit in a tensor.
pub const HARD_MAX_HIDDEN: u32 = 1 << 16;
/// Largest LoRA rank: past the width of any supported model's residual
/// stream (Qwen3-4B: 2560) a low-rank adapter is no longer low-rank.
pub const HARD_MAX_LORA_RANK: u32 = 4096;
/// Largest scratch directory quota: the evaluator's disk is shared.
pub const HARD_MAX_SCRATCH_BYTES: u64 = 16 << 30;
/// Longest compilation: a module that takes longer is rejected.
pub const HARD_MAX_COMPILE_TIMEOUT_MS: u64 = 3600 * 1000;
/// Largest address space of the compiling process (on top of what it has
/// mapped at start-up).
pub const HARD_MAX_COMPILE_MEMORY_BYTES: u64 = 64 << 30;
/// Smallest address space for compiling: below this even a small strategy
/// (plugins/vanilla needs under 8 MiB) may not compile.
pub const MIN_COMPILE_MEMORY_BYTES: u64 = 16 << 20;
