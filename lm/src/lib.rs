//! Decoder-only language models for w2s, on candle-core: hidden states at a
//! chosen layer of a Hugging Face checkpoint, pooled into features.
//!
//! - [`config`]: `config.json` per family (Llama, Mistral, Qwen2 (also
//!   Qwen1.5 and Qwen2.5), Qwen3), validated, with one clear error for an
//!   unknown or missing architecture.
//! - [`weights`]: every `*.safetensors` file memory-mapped and hashed
//!   (sha256); tensors converted to f32 on load.
//! - [`tokenizer`]: `tokenizer.json` through the `tokenizers` crate,
//!   checked against the config (a tokenizer of another model is refused),
//!   batched, truncated from the left, right-padded with attention masks.
//! - [`decoder`], [`block`], [`attention`], [`projection`], [`norm`],
//!   [`rope`]: the forward pass. Only the blocks below the requested layer
//!   are loaded and run.
//! - [`frozen`]: the inference-only forward of feature extraction (plain
//!   `f32` buffers, `w2s-gemm` for the projections, fused kernels in
//!   `frozen_ops`, packed batches): the same numbers as the candle forward
//!   within rounding, the same bits at any thread count.
//! - [`lora`]: low-rank adapters threaded through the forward
//!   ([`Decoder::hidden_states_with`]).
//! - [`pooling`], [`extract`]: last-token or mean pooling, and batched
//!   extraction with a progress callback.
//! - [`model_dir`]: a model directory or GGUF file opened as a whole,
//!   with the hashes of every file that shapes its outputs.
//! - [`gguf`]: a GGUF file (llama.cpp's format): config and tokenizer
//!   rebuilt from its metadata, weights dequantized to f32 on load and
//!   served under Hugging Face names, so the forward is the same.
//! - [`random_model`]: seeded random-weight model directories for tests and
//!   benchmarks.
//!
//! # Why a forward of our own
//!
//! candle-transformers' models return logits and keep their intermediate
//! hidden states private, so this crate writes the one decoder forward the
//! four families share (RMSNorm, RoPE, grouped-query attention with a
//! causal and padding mask, SwiGLU), with the per-family differences read
//! from the config (q/k/v biases, q/k norms, explicit head width, RoPE
//! scaling). It matches Hugging Face `transformers` within 1e-4 (f32) on
//! every family: `tests/reference.rs` checks it against numbers that
//! `reference/make_reference.py` computed with `transformers`.
//!
//! # Built to be fine-tuned later
//!
//! Weights are candle [`Tensor`](candle_core::Tensor)s on a caller-chosen
//! [`Device`](candle_core::Device) (CPU by default; CUDA with the `cuda`
//! feature), and the forward uses only ops that have a backward pass
//! (softmax and RMSNorm are composed from them rather than taken from the
//! fused kernels, which have none). Every matrix product goes through one
//! type, [`projection::Projection`], where a low-rank adapter can be
//! attached. Computation is f32 throughout: bf16 and f16 checkpoints are
//! widened on load (a 4B-parameter model takes 16 GB).

pub mod attention;
pub mod block;
pub mod config;
mod cpu_norm;
mod cpu_product;
pub mod decoder;
pub mod error;
pub mod extract;
pub mod frozen;
mod frozen_ops;
pub mod gguf;
pub mod lora;
mod mapped;
pub mod model_dir;
pub mod norm;
pub mod pooling;
pub mod projection;
pub mod random_model;
pub mod rope;
#[cfg(test)]
mod test_support;
pub mod tokenizer;
pub mod weights;

pub use config::{Family, ModelConfig};
pub use decoder::Decoder;
pub use error::{LmError, Result};
pub use frozen::FrozenDecoder;
pub use model_dir::{ModelDir, is_gguf};
pub use pooling::Pooling;
