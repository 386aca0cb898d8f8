//! The inference-only forward of feature extraction: the decoder's frozen
//! weights in plain `f32` buffers, the projections through `w2s-gemm`, and
//! the rest fused into a few passes over each batch (no autograd graph, no
//! per-op tensor overhead).
//!
//! # Design
//!
//! - **Weights stored for the GEMM.** Each projection's `(out, in)`
//!   checkpoint matrix is transposed once at load into `(in, out)`, the
//!   right-hand operand `w2s_gemm::gemm` streams; q, k and v share one
//!   matrix, as do gate and up, so a block runs four products, not seven.
//!   Weights are loaded one tensor at a time and the candle tensor dropped
//!   at once, so a loaded model holds one copy of its weights.
//! - **Packed batches.** The sequences of a batch are stacked without
//!   padding: a product's rows are the batch's real tokens, and attention
//!   runs per sequence over keys `0..=i`. A right-padded batch's padding
//!   never influences a real token in `transformers` either (its keys are
//!   masked), so nothing is lost, and no work is spent on padding.
//! - **Bits.** Every value is computed by a sequence of operations fixed by
//!   the shapes: the GEMM's fixed summation order, and single-threaded
//!   kernels with fixed reduction orders (`frozen_ops`). So
//!   features are the same bits at any thread count, and since every row
//!   of a product depends on its own token only, the same bits whatever
//!   other texts share the batch.
//!
//! The candle forward ([`crate::Decoder`]) stays for everything that needs
//! gradients (LoRA students) or another device; this one is CPU only.

use candle_core::Device;
use rayon::prelude::*;
use w2s_gemm::{Lhs, Rows, gemm};

use crate::config::ModelConfig;
use crate::decoder::{check_layer, tensor_prefix};
use crate::error::{LmError, Result};
use crate::frozen_ops::{Heads, add_in_place, attend, rms_norm, rms_norm_in_place, rope, swiglu};
use crate::rope::Rope;
use crate::weights::WeightFiles;

/// Edge of the square tiles of the load-time transpose (a tile of source
/// and destination stays in the L1 cache).
const TRANSPOSE_TILE: usize = 32;

/// `y = x W (+ b)` with `W` stored `(in, out)`, row-major.
#[derive(Debug, Clone)]
struct Linear {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    out: usize,
}

impl Linear {
    /// Loads the `(out_i, in_dim)` matrices `{prefix}.weight` (and
    /// `{prefix}.bias` when `bias`) of `parts`, side by side in one
    /// `(in_dim, sum of out_i)` matrix.
    fn load(
        weights: &WeightFiles,
        parts: &[(&str, usize)],
        in_dim: usize,
        bias: bool,
    ) -> Result<Self> {
        let out: usize = parts.iter().map(|p| p.1).sum();
        let mut weight = vec![0f32; in_dim * out];
        let mut biases = Vec::with_capacity(if bias { out } else { 0 });
        let mut col0 = 0;
        for &(prefix, rows) in parts {
            let src = load_vec(weights, &format!("{prefix}.weight"), &[rows, in_dim])?;
            transpose_into(&src, rows, in_dim, &mut weight, out, col0);
            if bias {
                biases.extend(load_vec(weights, &format!("{prefix}.bias"), &[rows])?);
            }
            col0 += rows;
        }
        Ok(Self {
            weight,
            bias: bias.then_some(biases),
            out,
        })
    }

    /// `out = x W (+ b)` for the `rows` rows of `x`.
    fn apply(&self, x: &[f32], rows: usize, threads: usize, out: &mut Vec<f32>) {
        out.clear();
        match &self.bias {
            Some(b) => (0..rows).for_each(|_| out.extend_from_slice(b)),
            None => out.resize(rows * self.out, 0.0),
        }
        let in_dim = self.weight.len() / self.out;
        gemm(
            Lhs::Rows(Rows::dense(x, in_dim)),
            &self.weight,
            self.out,
            out,
            threads,
        );
    }
}

/// Writes the transpose of `src` (`rows x cols`) into the columns
/// `col0..col0 + rows` of `dst` (`cols x width`).
fn transpose_into(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    width: usize,
    col0: usize,
) {
    for r0 in (0..rows).step_by(TRANSPOSE_TILE) {
        for c0 in (0..cols).step_by(TRANSPOSE_TILE) {
            for c in c0..(c0 + TRANSPOSE_TILE).min(cols) {
                let dst_row = &mut dst[c * width + col0..];
                for r in r0..(r0 + TRANSPOSE_TILE).min(rows) {
                    dst_row[r] = src[r * cols + c];
                }
            }
        }
    }
}

/// The tensor `name` as a flat `f32` vector (the candle tensor is dropped
/// before the next one loads).
fn load_vec(weights: &WeightFiles, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    Ok(weights
        .load(name, shape, &Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// One decoder block's frozen weights.
#[derive(Debug, Clone)]
struct FrozenBlock {
    input_norm: Vec<f32>,
    qkv: Linear,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    o: Linear,
    post_attention_norm: Vec<f32>,
    gate_up: Linear,
    down: Linear,
}

impl FrozenBlock {
    fn load(weights: &WeightFiles, prefix: &str, i: usize, c: &ModelConfig) -> Result<Self> {
        let p = format!("{prefix}layers.{i}");
        let a = format!("{p}.self_attn");
        let (hs, is, d) = (c.hidden_size, c.intermediate_size, c.head_dim);
        let norm = |name: &str, dim: usize| load_vec(weights, &format!("{name}.weight"), &[dim]);
        let qk_norm = |name: &str| -> Result<Option<Vec<f32>>> {
            c.qk_norm
                .then(|| norm(&format!("{a}.{name}"), d))
                .transpose()
        };
        let (q, k, v, o) = (
            format!("{a}.q_proj"),
            format!("{a}.k_proj"),
            format!("{a}.v_proj"),
            format!("{a}.o_proj"),
        );
        let (gate, up, down) = (
            format!("{p}.mlp.gate_proj"),
            format!("{p}.mlp.up_proj"),
            format!("{p}.mlp.down_proj"),
        );
        let kv = c.num_kv_heads * d;
        Ok(Self {
            input_norm: norm(&format!("{p}.input_layernorm"), hs)?,
            qkv: Linear::load(
                weights,
                &[(&q, c.num_heads * d), (&k, kv), (&v, kv)],
                hs,
                c.qkv_bias,
            )?,
            q_norm: qk_norm("q_norm")?,
            k_norm: qk_norm("k_norm")?,
            o: Linear::load(weights, &[(&o, hs)], c.num_heads * d, c.o_bias)?,
            post_attention_norm: norm(&format!("{p}.post_attention_layernorm"), hs)?,
            gate_up: Linear::load(weights, &[(&gate, is), (&up, is)], hs, c.mlp_bias)?,
            down: Linear::load(weights, &[(&down, hs)], is, c.mlp_bias)?,
        })
    }
}

/// Scratch buffers of one batch, reused across blocks.
#[derive(Default)]
struct Scratch {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    attended: Vec<f32>,
    projected: Vec<f32>,
    gate_up: Vec<f32>,
    activated: Vec<f32>,
    scores: Vec<f32>,
}

/// A decoder loaded up to some layer for inference only (see the module
/// docs).
#[derive(Debug, Clone)]
pub struct FrozenDecoder {
    config: ModelConfig,
    /// `(vocab, hidden)`.
    embed: Vec<f32>,
    blocks: Vec<FrozenBlock>,
    /// Loaded only when the blocks reach the top of the stack.
    final_norm: Option<Vec<f32>>,
    rope: Rope,
    threads: usize,
}

impl FrozenDecoder {
    /// Loads the embeddings and the blocks needed for hidden states at
    /// `layer` (`0..=num_layers`; numbered as [`crate::Decoder`]'s). The
    /// products use [`w2s_gemm::threads`] threads unless
    /// [`FrozenDecoder::with_threads`] says otherwise.
    pub fn load(weights: &WeightFiles, config: &ModelConfig, layer: usize) -> Result<Self> {
        check_layer(config, layer)?;
        let prefix = tensor_prefix(weights)?;
        let embed = load_vec(
            weights,
            &format!("{prefix}embed_tokens.weight"),
            &[config.vocab_size, config.hidden_size],
        )?;
        weights.release_pages();
        // Block by block, each block's mapped pages released once it is
        // converted: the process never holds a block twice.
        let blocks = (0..layer)
            .map(|i| {
                let block = FrozenBlock::load(weights, prefix, i, config);
                weights.release_pages();
                block
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = if layer == config.num_layers {
            Some(load_vec(
                weights,
                &format!("{prefix}norm.weight"),
                &[config.hidden_size],
            )?)
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            embed,
            blocks,
            final_norm,
            rope: Rope::new(config),
            threads: w2s_gemm::threads(),
        })
    }

    /// The same decoder, its products split over `threads` threads (at
    /// least 1; the bits do not depend on it).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The layer whose hidden states [`FrozenDecoder::hidden_states`]
    /// returns.
    pub fn layer(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes of `f32` weights held.
    pub fn weight_bytes(&self) -> usize {
        let linear = |l: &Linear| l.weight.len() + l.bias.as_ref().map_or(0, Vec::len);
        let opt = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, Vec::len);
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| {
                b.input_norm.len()
                    + linear(&b.qkv)
                    + opt(&b.q_norm)
                    + opt(&b.k_norm)
                    + linear(&b.o)
                    + b.post_attention_norm.len()
                    + linear(&b.gate_up)
                    + linear(&b.down)
            })
            .sum();
        4 * (self.embed.len() + blocks + opt(&self.final_norm))
    }

    /// Hidden states at [`FrozenDecoder::layer`] of each token of each
    /// sequence, the sequences stacked: row-major `(total tokens, hidden)`.
    /// Each sequence is one text's token ids (no padding); positions count
    /// from its start.
    pub fn hidden_states(&self, sequences: &[&[u32]]) -> Result<Vec<f32>> {
        self.forward(sequences, false)
    }

    /// The rows of [`FrozenDecoder::hidden_states`] at each sequence's last
    /// token, bit for bit, stacked: `(sequences, hidden)`. The last block
    /// runs attention, its output projection and the MLP for those tokens
    /// only (every other token's keys and values are still computed): a
    /// product's rows are independent, so nothing else changes.
    pub fn last_token_states(&self, sequences: &[&[u32]]) -> Result<Vec<f32>> {
        self.forward(sequences, true)
    }

    fn forward(&self, sequences: &[&[u32]], last_only: bool) -> Result<Vec<f32>> {
        let c = &self.config;
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        if let Some(w) = c.sliding_window
            && longest > w
        {
            return Err(LmError::invalid(
                "sequence",
                format!(
                    "{longest} tokens exceed the model's attention window ({w}); only full attention is implemented"
                ),
            ));
        }
        let hs = c.hidden_size;
        let mut x = Vec::with_capacity(sequences.iter().map(|s| s.len()).sum::<usize>() * hs);
        for &id in sequences.iter().flat_map(|s| s.iter()) {
            if id as usize >= c.vocab_size {
                return Err(LmError::invalid(
                    "token id",
                    format!(
                        "{id} is outside the embedding (vocab_size {})",
                        c.vocab_size
                    ),
                ));
            }
            x.extend_from_slice(&self.embed[id as usize * hs..][..hs]);
        }
        let lens: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let (cos, sin) = self.rope.half_tables(longest);
        let mut scratch = Scratch {
            scores: vec![0.0; longest],
            ..Scratch::default()
        };
        for (i, block) in self.blocks.iter().enumerate() {
            let last_only = last_only && i + 1 == self.blocks.len();
            self.block_forward(block, &mut x, &lens, (&cos, &sin), &mut scratch, last_only);
        }
        if last_only && self.blocks.is_empty() {
            x = last_rows(&x, &lens, hs);
        }
        if let Some(norm) = &self.final_norm {
            rms_norm_in_place(&mut x, norm, c.rms_norm_eps as f32);
        }
        Ok(x)
    }

    /// Runs `block` on the stacked residual stream `x`; with `last_only`,
    /// leaves in `x` only the rows of each sequence's last token.
    fn block_forward(
        &self,
        block: &FrozenBlock,
        x: &mut Vec<f32>,
        lens: &[usize],
        (cos, sin): (&[f32], &[f32]),
        s: &mut Scratch,
        last_only: bool,
    ) {
        let c = &self.config;
        let eps = c.rms_norm_eps as f32;
        let mut rows = x.len() / c.hidden_size;
        let shape = Heads {
            heads: c.num_heads,
            kv_heads: c.num_kv_heads,
            head_dim: c.head_dim,
        };
        let (d, half) = (c.head_dim, c.head_dim / 2);
        let (q_width, k_width) = (c.num_heads * d, c.num_kv_heads * d);
        s.normed.resize(x.len(), 0.0);
        rms_norm(x, &block.input_norm, eps, &mut s.normed);
        block.qkv.apply(&s.normed, rows, self.threads, &mut s.qkv);
        let width = shape.qkv_width();
        let mut row = 0;
        for &len in lens {
            for pos in 0..len {
                let r = &mut s.qkv[(row + pos) * width..][..width];
                let (q, rest) = r.split_at_mut(q_width);
                let k = &mut rest[..k_width];
                if let Some(w) = &block.q_norm {
                    rms_norm_in_place(q, w, eps);
                }
                if let Some(w) = &block.k_norm {
                    rms_norm_in_place(k, w, eps);
                }
                let (cos, sin) = (&cos[pos * half..][..half], &sin[pos * half..][..half]);
                for head in q.chunks_exact_mut(d).chain(k.chunks_exact_mut(d)) {
                    rope(head, cos, sin);
                }
            }
            row += len;
        }
        // The queries each sequence attends from: all, or its last.
        let queries = |len: usize| if last_only { len - 1..len } else { 0..len };
        let out_rows: usize = lens.iter().map(|&len| queries(len).len()).sum();
        s.attended.resize(out_rows * q_width, 0.0);
        // One sequence per task: a value's bits do not depend on which
        // thread computes it.
        let mut sequences = Vec::with_capacity(lens.len());
        let (mut qkv, mut out) = (&s.qkv[..rows * width], &mut s.attended[..]);
        for &len in lens {
            let (this_qkv, rest_qkv) = qkv.split_at(len * width);
            let (this_out, rest_out) =
                std::mem::take(&mut out).split_at_mut(queries(len).len() * q_width);
            sequences.push((len, this_qkv, this_out));
            (qkv, out) = (rest_qkv, rest_out);
        }
        if self.threads > 1 && sequences.len() > 1 {
            sequences.into_par_iter().for_each(|(len, qkv, out)| {
                attend(qkv, len, shape, queries(len), out, &mut vec![0.0; len]);
            });
        } else {
            for (len, qkv, out) in sequences {
                attend(qkv, len, shape, queries(len), out, &mut s.scores);
            }
        }
        if last_only {
            *x = last_rows(x, lens, c.hidden_size);
            rows = lens.len();
            s.normed.truncate(x.len());
        }
        block
            .o
            .apply(&s.attended, rows, self.threads, &mut s.projected);
        add_in_place(x, &s.projected);
        rms_norm(x, &block.post_attention_norm, eps, &mut s.normed);
        block
            .gate_up
            .apply(&s.normed, rows, self.threads, &mut s.gate_up);
        s.activated.resize(rows * c.intermediate_size, 0.0);
        // Element-wise, so split by rows: an `exp` per value is about a
        // tenth of a Qwen2.5-0.5B block's time on one thread.
        let mlp = c.intermediate_size;
        let chunk = rows.div_ceil(self.threads).max(1);
        s.gate_up
            .par_chunks(2 * mlp * chunk)
            .zip(s.activated.par_chunks_mut(mlp * chunk))
            .for_each(|(gate_up, out)| swiglu(gate_up, mlp, out));
        block
            .down
            .apply(&s.activated, rows, self.threads, &mut s.projected);
        add_in_place(x, &s.projected);
    }
}

/// The row of each sequence's last token in `x` (`dim` values per row,
/// sequences of `lens` rows stacked).
fn last_rows(x: &[f32], lens: &[usize], dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(lens.len() * dim);
    let mut end = 0;
    for &len in lens {
        end += len;
        out.extend_from_slice(&x[(end - 1) * dim..end * dim]);
    }
    out
}
