//! The w2s sandbox: runs one untrusted strategy component under explicit
//! limits, and implements the `w2s:strategy` WIT imports on top of
//! `w2s_train`.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(task: Arc<w2s_train::bundle::PublicTask>, wasm: &[u8]) -> Result<(), w2s_host::HostError> {
//! use w2s_host::{Limits, Sandbox};
//! let sandbox = Sandbox::new(Limits::default())?;
//! let strategy = sandbox.load(wasm)?;
//! let report = sandbox.run(&strategy, task, "", 42, &mut |p| eprintln!("{} steps", p.steps));
//! println!("{}: {}", report.outcome.code(), report.outcome.message());
//! # Ok(()) }
//! ```
//!
//! # Design decisions
//!
//! **Every limit is explicit.** wasmtime's defaults are open (unbounded
//! memory, no fuel, no epochs), so [`Limits`] sets each one and
//! [`Limits::validate`] checks it against a hard cap (the `HARD_MAX_*`
//! constants in [`limits`]). The engine has fuel (a deterministic bound on
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
//! `tensor_bytes`. Index lists are capped per call. The resource table
//! itself is capped too, so WASI resources opened in a loop cannot grow
//! host memory without bound.
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
//! [`CapturedOutput`]): no environment, no arguments, no preopened
//! directories, no network, an empty stdin. [`Sandbox::load`] rejects,
//! before instantiating, anything that is not a component, imports outside
//! `w2s:strategy@0.1.x` and WASI 0.2, or lacks a well-typed `run` export.
//! Each run gets a fresh store and instance; nothing survives between runs.

mod determinism;
mod error;
mod imports;
pub mod limits;
mod outcome;
mod output;
mod report;
mod run;
mod sandbox;
mod state;

pub use determinism::{FIXED_WALL_CLOCK_SECS, MONOTONIC_TICK_NS};
pub use error::HostError;
pub use limits::{ArchFamily, ArchLimit, Limits};
pub use outcome::Outcome;
pub use output::CapturedOutput;
pub use report::{MetricPoint, Progress, RunReport, Usage};
pub use sandbox::{Sandbox, Strategy};
