//! The w2s evaluation engine, as a library.
//!
//! One evaluation takes a strategy (a wasm32-wasip2 component) through six
//! stages, each a module, data flowing one way:
//!
//! 1. **the submission** ([`submission`], [`compile`], [`policy`]): the
//!    component, compiled in a `w2s compile` child under the policy's
//!    bounds and cached, or the sandbox's refusal of it;
//! 2. **the seeds** ([`seeds`]): chosen by the host from the evaluator's
//!    secret and the wasm's and task's hashes, or given by hand;
//! 3. **the sandboxed runs** (`sandboxed`, in one confined `w2s-runner`
//!    child process, the public part of the task only): once per seed, and
//!    once per seed and control;
//! 4. **scoring** (`scoring`, [`scores`]): one `w2s score` child process,
//!    the only process that opens held-out data, scores every student;
//! 5. **controls and flags** ([`controls`], [`degeneracy`], [`flags`]);
//! 6. **the report** ([`report`], [`feedback`], [`runs`]).
//!
//! [`Evaluation`] drives them; [`suite`] runs one submission on every task
//! of a generalization suite, and [`replay`] runs a report's evaluation
//! again to compare the two bit for bit.
//!
//! ```no_run
//! # fn main() -> Result<(), w2s_eval::EvalError> {
//! use std::path::Path;
//! use w2s_eval::{Evaluation, Executable, PolicyInfo, Quiet, SeedRequest, Submission, Task};
//!
//! let exe = Executable::at("target/debug/w2s");
//! let wasm = Path::new("plugins/target/wasm32-wasip2/release/vanilla.wasm");
//! let submission = Submission::load(&exe, wasm, PolicyInfo::effective(None)?, Path::new(".w2s/cache/compiled"))?;
//! let task = Task::open(Path::new(".w2s/tasks/default"))?;
//! let seeds = SeedRequest::default().plan(submission.wasm_sha256(), task.hash())?;
//! let report = Evaluation::new(&task, &submission, seeds).controls(true).run(&Quiet)?;
//! # Ok(())
//! # }
//! ```
//!
//! `eval/examples/evaluate.rs` is a complete program; `tests/all/library.rs`
//! runs its `evaluate` and checks that the report is `w2s eval`'s.
//!
//! # Design decisions
//!
//! - **The scorer stays a separate process.** This crate never links
//!   `w2s-scorer` (a test checks the crate graph): it starts `w2s score`
//!   and reads its verdict, whose types live in the plain-serde crate
//!   `w2s-verdict`. So a program embedding the evaluator never has held-out
//!   data in its address space, and neither does anything that runs guest
//!   code.
//! - **Child processes come from one `w2s` executable** ([`Executable`]):
//!   the running one for `w2s`, a path for anyone else.
//! - **The library prints nothing.** Progress goes to a [`ProgressSink`];
//!   tables and exit statuses are the `w2s` binary's business.
//! - **Reports are pure functions of what the stages produced**: the same
//!   wasm, task, policy, options and seeds give the same report bit for
//!   bit on CPU, but for the volatile fields of [`report::VOLATILE_PATHS`].
//! - **Data flows one way**: no module uses, directly or not, a module
//!   that uses it (the sandboxed runs build the control tasks from
//!   [`controls`], which the report's assembly then judges; nothing flows
//!   back). A test parses every `crate::` path of the crate's modules and
//!   fails on a cycle.

pub mod compile;
pub mod controls;
pub mod degeneracy;
mod error;
mod evaluation;
mod executable;
pub mod feedback;
pub mod flags;
pub mod gap;
mod options;
pub mod policy;
mod progress;
pub mod python_guest;
pub mod replay;
pub mod report;
mod runner;
pub mod runs;
mod sandboxed;
pub mod scores;
mod scoring;
pub mod seeds;
pub mod stats;
mod submission;
pub mod suite;
pub mod table;
pub mod task;

pub use error::{EvalError, Result};
pub use evaluation::Evaluation;
pub use executable::Executable;
pub use options::Options;
pub use policy::PolicyInfo;
pub use progress::{ProgressSink, Quiet};
pub use report::Report;
pub use seeds::{SeedPlan, SeedRequest};
pub use submission::Submission;
pub use task::Task;
