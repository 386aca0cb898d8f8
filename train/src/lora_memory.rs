//! The memory model of an `lm-lora` train step: an upper bound on the
//! bytes a step allocates on top of what is already resident (the shared
//! backbone, the student's parameters, optimizer state), from shapes alone.
//! The host refuses a step whose bound exceeds the tensor memory left, so
//! the bound must hold for every batch a guest can pick (issue 18: the
//! previous estimate was 3.5 to 4.7 times below the measured peak).
//!
//! What a step keeps alive, read off the forward (`w2s_lm` decoder,
//! attention, MLP, `Projection::forward_with`) and candle's autograd
//! (`Tensor::backward`):
//!
//! - **Retained activations.** Every op output in a block at or above the
//!   lowest adapted block is tracked, and the loss's graph keeps all of
//!   them until the step ends. Blocks below it run untracked and free their
//!   tensors as they go.
//! - **Gradients of frozen leaves.** candle's backward computes a gradient
//!   for *both* operands of every tracked product and broadcast, and keeps
//!   those of untracked leaves in its store until it is dropped: each
//!   frozen projection weight's (one weight's size per use), the attention
//!   mask's broadcast (a full score tensor per block), the rotary tables'
//!   and the norm scales' broadcasts (a token's width each), the biases'.
//! - **Backward transients.** Gradients of tracked nodes are freed once
//!   used; the largest set alive at once is a few score-sized tensors (the
//!   softmax's backward) and a few token-wide ones, plus a product's
//!   gradient being summed into its store entry.
//! - **Once per step:** the embeddings' gather, the mask, the final norm,
//!   the token batch.
//!
//! Counts are in elements per token (of the compute dtype) and summed
//! exactly as listed in [`Backbone::step_peak_bytes`]; a margin of
//! [`MARGIN_PERCENT`] covers the allocator's rounding and kernels' scratch
//! buffers. `tests/lora_peak_memory.rs` measures real steps with a counting
//! allocator and checks the bound (and that it stays within 3x of them).

use w2s_lm::lora::{Target, target_shape};

use crate::lora::Backbone;
use crate::lora::LoraSpec;

/// Percent added to the counted bytes (allocator rounding, kernel scratch).
pub const MARGIN_PERCENT: u64 = 50;

/// Bytes per element: the backbone computes in f32.
const ELEM: u64 = 4;

impl Backbone {
    /// Upper bound on the bytes a train step (or a tracked `forward` then
    /// `backward-step`) of `spec` over `rows` rows padded to `seq` tokens
    /// allocates beyond what is resident. See the module docs for each
    /// term.
    pub fn step_peak_bytes(&self, spec: &LoraSpec, rows: usize, seq: usize) -> u64 {
        let c = self.config();
        let (h, i) = (c.hidden_size as u64, c.intermediate_size as u64);
        let q = (c.num_heads * c.head_dim) as u64;
        let kv = (c.num_kv_heads * c.head_dim) as u64;
        let s = seq as u64;
        let scores = c.num_heads as u64 * s;
        let flag = |b: bool| u64::from(b);
        let (qkv_b, o_b, mlp_b, qk) = (
            flag(c.qkv_bias),
            flag(c.o_bias),
            flag(c.mlp_bias),
            flag(c.qk_norm),
        );
        // Retained per token in a tracked block, in forward order.
        let norms = 2 * (3 * h + 4);
        let q_side = q * (1 + qkv_b + 3 * qk + 1 + 5); // proj, bias, norm, copy, rotary
        let k_side = kv * (1 + qkv_b + 3 * qk + 1 + 5);
        let v_side = kv * (1 + qkv_b + 1);
        let attention = 6 * scores + 2 * c.num_heads as u64 + 2 * q; // scores..probs, out, copy
        let o_side = h * (1 + o_b);
        let residuals = 2 * h;
        let mlp = i * (2 * (1 + mlp_b) + 2) + h * (1 + mlp_b);
        let retained = norms + q_side + k_side + v_side + attention + o_side + residuals + mlp;
        // Frozen leaves' gradients per token in a tracked block.
        let leaves = scores
            + 2 * (q + kv)
            + 2 * h
            + qkv_b * (q + 2 * kv)
            + o_b * h
            + mlp_b * (2 * i + h)
            + qk * (q + kv);
        // Adapters per token in an adapted block: `x A^T`, `.. B^T`, the
        // scale and the sum.
        let r = u64::from(spec.rank);
        let adapters: u64 = spec
            .targets
            .iter()
            .map(|&t| r + 3 * target_shape(c, t).1 as u64)
            .sum();
        let block_weights: u64 = Target::ALL
            .iter()
            .map(|&t| {
                let (a, b) = target_shape(c, t);
                (a * b) as u64
            })
            .sum();
        let largest_weight = Target::ALL
            .iter()
            .map(|&t| {
                let (a, b) = target_shape(c, t);
                (a * b) as u64
            })
            .max()
            .unwrap_or(0);
        let lowest = spec.layers.first().copied().unwrap_or(0) as u64;
        let tracked = (c.num_layers as u64).saturating_sub(lowest);
        let adapted = spec.layers.len() as u64;
        let n_rep = (c.num_heads / c.num_kv_heads.max(1)) as u64;
        let tokens = rows as u64 * s;
        // Once per step: embeddings, mask (built, then a tensor), final
        // norm, the batch's ids and mask; backward transients.
        let once = h + 2 * n_rep * s + 3 * h + 2;
        let transient = 6 * scores + 4 * (h + i + q);
        let per_token = tracked * (retained + leaves) + adapted * adapters + once + transient;
        let elems = tokens
            .saturating_mul(per_token)
            .saturating_add(tracked * block_weights + 2 * largest_weight);
        let bytes = elems.saturating_mul(ELEM);
        bytes.saturating_add(bytes / 100 * MARGIN_PERCENT)
    }
}
