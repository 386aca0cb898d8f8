//! Write weak-to-strong training strategies in ordinary Rust and compile
//! them to WebAssembly components (`wasm32-wasip2`) that the w2s host runs.
//!
//! # Design
//!
//! - **The WIT file is the contract.** Bindings are generated from
//!   `wit/w2s.wit` (world `lm-strategy`: `strategy` plus the `lm`
//!   interface; a component imports only the interfaces it calls, so a
//!   plugin that never touches [`lm`] links exactly as a `strategy`
//!   component) at build time, so the SDK cannot drift
//!   from what the host implements. They live in [`bindings`], hidden: a
//!   plugin uses the wrappers below and never touches raw handles.
//! - **Nothing host-side.** The only dependency is `wit-bindgen`; the
//!   students, optimizers and task data live in host memory behind handles.
//! - **Thin, typed wrappers.** [`task`] is a set of free functions (a guest
//!   runs exactly one task); [`Student`] and [`Optimizer`] own their
//!   handles and free them on drop; every refusal from the host is an
//!   [`Error`] carrying the WIT error code. Counts are `usize`, pool
//!   indices `u32` as in the contract, and row-major results come back as a
//!   [`Matrix`].
//! - **The strong model itself.** [`lm`] fine-tunes the task's language
//!   model with LoRA ([`Student::create_lora`]); the result is a
//!   [`Student`] like any other.
//! - **Tensors with autograd.** [`Tensor`] wraps the `tensor` interface:
//!   arithmetic, softmax, reductions, indexing and losses on host tensors.
//!   [`Student::forward`] gives tracked logits, and
//!   [`Student::backward_step`] trains on any scalar loss built from them.
//!   [`k_fold`] and [`subset`] split pool indices guest-side.
//! - **The reference recipe as a building block.** [`Recipe`] holds the
//!   baseline's shared settings (`lr`, `batch`, `hidden`) and a
//!   [`Training`] runs its epochs (or [`train_epoch`], one weighted pass),
//!   so a method that changes only targets or weights differs from the
//!   baseline only there;
//!   [`weak_probs_chunked`] and [`Student::predict_chunked`] read a whole
//!   pool in calls of bounded length.
//! - **Lazy optimizers.** [`Optimizer`] is a builder until its first step
//!   (the WIT constructor cannot fail, so nothing is lost by waiting).
//! - **Reproducible randomness.** [`Rng`] is the host's own xoshiro256**
//!   generator, seeded from [`task::seed`]: a guest's shuffles match the
//!   host's native reference recipes step for step.
//! - **Strict configs.** [`Config`] parses `key=value,...` and refuses keys
//!   a strategy did not take, so a typo is an error, not a silent default.
//! - **One export.** Implement [`Strategy`] and call [`export_strategy!`];
//!   the macro forwards to the `export!` macro that `wit-bindgen` generates
//!   here (`pub_export_macro`), so plugins need no bindings of their own.
//!
//! # Example
//!
//! ```no_run
//! use w2s_guest_sdk::{Arch, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, batches, task};
//!
//! struct HardLabels;
//!
//! impl Strategy for HardLabels {
//!     fn run(_config: &str) -> Result<Student, StrategyError> {
//!         let pool = task::pool_indices();
//!         let labels = task::weak_probs(&pool)?.argmax_rows();
//!         let targets = Matrix::one_hot(&labels, task::num_classes());
//!         let mut student = Student::create(Arch::Linear, task::seed())?;
//!         let opt = Optimizer::adamw(1e-3);
//!         let mut rng = Rng::new(task::seed());
//!         let order = rng.permutation(pool.len());
//!         for batch in batches(&order, 128) {
//!             let weights = vec![1.0; batch.len()];
//!             student.train_step(&opt, batch, &targets.gather(batch), &weights)?;
//!         }
//!         Ok(student)
//!     }
//! }
//!
//! w2s_guest_sdk::export_strategy!(HardLabels);
//! ```

mod arch;
mod batch;
mod chunked;
mod config;
mod error;
mod folds;
mod labels;
pub mod lm;
mod matrix;
mod metrics;
mod recipe;
mod rng;
mod strategy;
mod student;
pub mod task;
mod tensor;

/// Raw bindings generated from `wit/w2s.wit`. Public only so that
/// [`export_strategy!`] can reach them from a plugin crate.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "lm-strategy",
        pub_export_macro: true,
        default_bindings_module: "w2s_guest_sdk::bindings",
    });
}

pub use arch::{Arch, ArchFamily, ArchLimit, largest_allowed};
pub use batch::batches;
pub use chunked::{CHUNK, weak_probs_chunked};
pub use config::{Config, ConfigError};
pub use error::{Error, ErrorCode};
pub use folds::{k_fold, subset};
pub use labels::{argmax, one_hot};
pub use matrix::Matrix;
pub use metrics::log_metric;
pub use recipe::{Recipe, Training, shuffled_epoch, train_epoch};
pub use rng::{Rng, derive_seed};
#[doc(hidden)]
pub use strategy::Export;
pub use strategy::{Strategy, StrategyError};
pub use student::{Optimizer, OptimizerConfig, OptimizerKind, Student};
pub use tensor::{BinaryOp, CompareOp, ReduceOp, Tensor, UnaryOp};
