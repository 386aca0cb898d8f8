//! Native training primitives for w2s.
//!
//! Everything numeric that a strategy can ask the host for lives here, on
//! candle-core (f32; CPU by default, CUDA behind the `cuda` feature):
//!
//! - [`head`]: student heads (linear probe, two-layer MLP) with a fused
//!   forward and a hand-written backward for weighted soft-label
//!   cross-entropy. A whole train step is one call: strategies run many
//!   small steps, and candle's per-op overhead makes coarse primitives pay.
//! - [`autograd`]: tracked student forward, softmax and losses with a
//!   backward, and backward-then-step, for strategies that write their own
//!   losses through the host's `tensor` interface.
//! - [`optim`]: AdamW and SGD, one fused pass per parameter.
//! - [`gemm`]: the CPU train step's matrix products, with a summation order
//!   fixed by the shapes alone (bit-identical at any thread count and on
//!   every x86 CPU), AVX-512 or AVX2 kernels chosen at run time.
//! - [`device`]: parsing `--device cpu|cuda[:N]`, opening and naming it.
//! - [`rng`]: the crate's own seeded generator. candle's CPU RNG cannot be
//!   seeded, so initial weights and shuffles never come from it.
//! - [`bundle`]: task bundles, format v1, read through verified memory maps.
//!   [`bundle::PublicTask`] opens only the public part; [`bundle_writer`]
//!   writes one; [`test_subsets`] names subsets of the test split (held
//!   out with it).
//! - [`synth`]: the synthetic task generator with a weak teacher trained
//!   natively on a degraded view.
//! - [`logconf`]: the native twin of `plugins/logconf` (the auxiliary
//!   confidence loss), for the sandbox-tax benchmark and its bit-for-bit test.
//! - [`recipe`]: the fixed supervised training recipe (ceiling baseline,
//!   weak teacher, native reference strategies).
//! - [`checkpoint`]: student checkpoints.
//! - [`lora`]: `lm-lora` students (the strong language model, frozen and
//!   shared, with trainable low-rank adapters); its submodules hold the
//!   tokenized splits they read and the bundle's `[lm]` section
//!   ([`lora::tokens`], also at its older path [`lora_tokens`]) and the
//!   ceiling recipe ([`lora::recipe`], also [`lora_recipe`]).
//!
//! This crate knows nothing about WebAssembly or scoring: `host` and
//! `scorer` both build on it and never on each other.

pub mod arch;
pub mod autograd;
mod buffers;
pub mod bundle;
pub mod bundle_writer;
pub mod checkpoint;
pub mod device;
pub mod error;
/// The CPU kernels' matrix products: the `w2s-gemm` crate (its own crate so
/// that `w2s-lm`'s frozen forward uses it without depending on this one).
pub use w2s_gemm as gemm;
pub mod head;
pub mod logconf;
pub mod lora;
pub mod lora_memory;
pub mod optim;
pub mod recipe;
pub mod rng;
pub mod synth;
pub mod test_subsets;

pub use arch::Arch;
pub use error::{Result, TrainError};
pub use head::Head;
/// [`lora::recipe`] under its older path.
pub use lora::recipe as lora_recipe;
/// [`lora::tokens`] under its older path.
pub use lora::tokens as lora_tokens;
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind};
