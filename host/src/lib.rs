//! The w2s sandbox: runs one untrusted strategy component under explicit
//! limits, and implements the `w2s:strategy` WIT imports on top of
//! `w2s_train`.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(task: Arc<w2s_train::bundle::PublicTask>, wasm: &[u8]) -> Result<(), w2s_host::HostError> {
//! use w2s_host::{Policy, Sandbox};
//! let sandbox = Sandbox::new(Policy::default())?;
//! let strategy = sandbox.load(wasm)?;
//! let report = sandbox.run(&strategy, task, "", 42, &mut |p| eprintln!("{} steps", p.steps));
//! println!("{}: {}", report.outcome.code(), report.outcome.message());
//! # Ok(()) }
//! ```
//!
//! # Design decisions
//!
//! **Every limit is explicit.** wasmtime's defaults are open (unbounded
//! memory, no fuel, no epochs), so the [`Policy`] (crate `w2s_policy`,
//! validated against hard caps when it is built) sets each one; the
//! host-internal bounds are constants in [`limits`]. The engine has fuel (a deterministic bound on
//! wasm instructions), epoch interruption (a wall-clock bound, ticked every
//! 10 ms by one thread per [`Sandbox`]), an explicit wasm stack, and the
//! component model without its concurrency support (synchronous host calls
//! are cheaper). A store-level `ResourceLimiter` caps all linear memories
//! together, each table, and the number of instances, memories and tables.
//!
//! **Host calls are metered by the host.** Fuel and epochs stop only wasm
//! code, and the expensive work of a strategy happens inside host functions
//! (train steps, predictions). So every w2s host function first checks the
//! wall-clock deadline, then charges what it is about to do before doing
//! it: estimated FLOPs ([`w2s_train::Arch::forward_flops`],
//! [`w2s_train::Arch::train_step_flops`]) against the compute budget, live
//! handles against `max_handles`, and tensor bytes (student parameters on
//! creation, optimizer state on its first step; released on drop) against
//! `tensor_bytes`; train steps against `max_train_steps`. Index lists and
//! the values of one call are capped. The resource table
//! itself is capped too, so WASI resources opened in a loop cannot grow
//! host memory without bound.
//!
//! **The strong model (`lm`).** The host links the world `lm-strategy`
//! (`strategy` plus the `lm` interface, same export), so components of
//! either world load. `lm.create-lora` makes an `lm-lora` student: the
//! task's strong model (loaded once per evaluation with its hashes
//! checked, shared read-only by every seed) with trainable LoRA adapters,
//! behind the same `student` handle and methods as a head
//! (`imports::lm_student`). Compute is charged from the model's size and
//! the padded tokens before each call (`w2s_train::lora`).
//!
//! **Tensors and autograd.** The `tensor` interface gives guests host
//! tensors (f32, CPU, rank 0 to 4; scalars are rank 0) with candle's
//! autograd; `student.forward` returns logits tracked back to the
//! student's parameters and `student.backward-step` backpropagates a scalar
//! loss and applies the optimizer (`w2s_train::autograd`; the fused
//! `train-step` stays the fast path). Each op validates shapes before
//! anything runs (a mismatch is an `invalid-argument` error), works out
//! its exact output size, then charges FLOPs, a handle and tensor memory;
//! a tracked tensor is also charged the graph it keeps alive, so dropping
//! intermediate handles never hides memory from the meter. See
//! `imports/tensor/mod.rs` for the FLOP estimates.
//!
//! **Errors versus traps.** An expected failure (an index out of the pool,
//! a batch of the wrong length, an architecture the limits do not allow, an
//! optimizer used with a second student) goes back to the guest as the WIT
//! `error` record with a short fixed text: the guest can recover. A broken
//! limit (compute, deadline, handles, tensor memory, linear memory) traps
//! with a typed error and ends the run: a guest must not be able to catch
//! its way past a budget. Every run ends in exactly one [`Outcome`], found
//! with `downcast_ref` on wasmtime's error (fuel and epoch traps, the
//! host's own trap type, the limiter's own error), never by matching
//! message text. Text from the guest (its error string, its output) is
//! data: truncated and kept in a field, never a headline.
//!
//! **Determinism.** The same wasm, task, limits and seed give bit-identical
//! results on CPU: the guest sees a fixed wall clock, a virtual monotonic
//! clock whose sleeps never block, and `wasi:random` streams derived from
//! the run seed; Cranelift canonicalizes NaNs and relaxed SIMD is
//! deterministic; outputs are cut at fixed sizes and every write is
//! accepted whole. Only [`Usage::wall_time`] (not serialized) and whether a
//! run hits its wall-clock deadline depend on the machine.
//!
//! **Isolation.** WASI grants nothing but stdout and stderr (bounded, see
//! [`CapturedOutput`]): no environment, no arguments, no network, an empty
//! stdin, and no preopened directory unless the policy turns the
//! [`scratch`] directory on (then one fresh directory per run, with a
//! byte quota enforced on every write). [`Sandbox::load`] rejects, before
//! instantiating, anything that is not a component, imports an interface
//! the policy does not allow (naming it), or lacks a well-typed `run`
//! export. Each run gets a fresh store and instance; nothing survives
//! between runs ([`Sandbox::live_handles`] is 0 between runs).
//!
//! **Every host call is accounted for.** Each w2s host function runs
//! through one wrapper that counts it, checks the deadline, and notes what
//! it was charged and how it ended: the report's [`AuditSummary`], and,
//! when asked, one JSON line per call ([`audit`]).
//!
//! **Compiling untrusted code is bounded too.** [`Sandbox::precompile`] is
//! what the `w2s compile` child process runs under the policy's compile
//! deadline and address-space limit; [`ArtifactCache`] keeps its output,
//! verifying each artifact's sha256 before the one `unsafe` call that loads
//! it ([`cache`]).

pub mod audit;
pub mod cache;
mod determinism;
mod error;
mod imports;
pub mod limits;
mod outcome;
mod output;
mod progress;
mod report;
mod run;
mod sandbox;
pub mod scratch;
mod state;
mod store;

pub use audit::AuditSummary;
pub use cache::{ArtifactCache, CacheStatus, Lookup};
pub use determinism::{FIXED_WALL_CLOCK_SECS, MONOTONIC_TICK_NS};
pub use error::{HostError, printable};
pub use outcome::{Note, Outcome};
pub use output::CapturedOutput;
pub use report::{MetricPoint, Progress, RunReport, Usage};
pub use sandbox::{Sandbox, Strategy};
pub use w2s_policy::{ArchFamily, ArchLimit, Policy, PolicyError};
