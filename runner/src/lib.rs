//! The process that runs guest code, confined.
//!
//! An evaluation (`w2s-eval`) compiles the component, plans the seeds and
//! the control tasks, then starts this crate's binary, `w2s-runner`, with a
//! [`job::Job`] in a fresh output directory. The runner:
//!
//! 1. reads the job and the task's manifest (public), and derives the
//!    confinement [`plan::plan_for`] the job;
//! 2. confines itself ([`confine_for`]: Landlock, seccomp, `no_new_privs`,
//!    rlimits; see `w2s-confine`) before it opens the component, starts a
//!    thread, or reads a byte of task data;
//! 3. opens the public part of the task, loads the compiled component from
//!    the cache, and runs it under every seed ([`execute::run_job`]),
//!    sending progress lines on stdout;
//! 4. writes each student as a checkpoint and the runs' reports as
//!    [`job::JobResult`] into its output directory.
//!
//! The evaluation then scores the checkpoints in another process (`w2s
//! score`) and builds the report itself: the runner never sees a score,
//! and what it says about its runs cannot change one.
//!
//! # Design decisions
//!
//! - **No held-out reader is linked**: this crate depends on the sandbox,
//!   the training primitives and the policy, never on the scorer nor on the
//!   evaluation library (which starts scorers and task generators);
//!   `tests/all/crate_graph.rs` checks it. Even a guest that escaped
//!   wasmtime finds no code here that opens `heldout/`, and Landlock lets
//!   no code open it.
//! - **Its own binary**, started with an empty environment (only `TMPDIR`,
//!   pointing into its output directory, the thread count and
//!   [`MALLOC_TUNABLES`]), so neither the evaluator's environment nor its
//!   other files are in reach.

/// The glibc allocator settings the runner starts with (`GLIBC_TUNABLES`,
/// set by whoever starts it: `w2s-eval`, and `w2s-bench`'s LoRA step).
///
/// A student's train step allocates and frees a few GB of tensors, and
/// glibc's defaults give much of that back to the kernel as soon as it is
/// freed: blocks above a moving threshold are unmapped, and the top of the
/// heap is trimmed. The next step then faults the same memory back in,
/// zeroed, and on two threads every unmapping interrupts the other core to
/// flush its TLB. Keeping freed memory (a trim threshold of 16 GiB) and
/// pinning the mapping threshold at glibc's largest, 32 MiB, halved the
/// page faults of a LoRA step on SmolLM2-135M and made it 13-22% faster
/// (docs/PERFORMANCE.md). The resident memory of a runner then stays at
/// its peak until it exits; the peak itself is unchanged, and its address
/// space limit (`plan`) still bounds it. Results are the same bits either
/// way: only where memory comes from changes.
pub const MALLOC_TUNABLES: (&str, &str) = (
    "GLIBC_TUNABLES",
    "glibc.malloc.trim_threshold=17179869184:glibc.malloc.mmap_threshold=33554432",
);

pub mod error;
pub mod execute;
pub mod job;
pub mod plan;
pub mod wire;

pub use error::RunnerError;

use w2s_confine::Applied;

use crate::job::Job;

/// Confines this process for `job`: the plan of [`plan::plan_for`], applied
/// by [`w2s_confine::confine`]. The runner and the test-only breach probe
/// both call this, so the probe tests exactly what the runner applies.
pub fn confine_for(job: &Job) -> Result<Applied, RunnerError> {
    let policy = job.policy()?;
    let plan = plan::plan_for(job, &policy)?;
    Ok(w2s_confine::confine(&plan)?)
}
