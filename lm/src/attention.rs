//! Grouped-query self-attention with a causal and padding mask.
//!
//! Query heads are grouped by the key/value head they share (Hugging Face's
//! `repeat_kv` order: query head `i` reads key/value head `i / n_rep`), and
//! each group's queries are stacked into one matrix, so the keys and values
//! are never copied `n_rep` times: scores are one batched product
//! `(batch, kv_heads, n_rep * seq, head_dim) x (batch, kv_heads, head_dim,
//! seq)`.

use candle_core::{DType, Device, Tensor};

use crate::config::ModelConfig;
use crate::cpu_product::{Form, matmul};
use crate::error::Result;
use crate::lora::{BlockAdapters, NO_ADAPTERS, Target};
use crate::norm::{RmsNorm, softmax_last_dim};
use crate::projection::Projection;
use crate::rope;
use crate::weights::WeightFiles;

/// Added to masked scores (transformers uses the dtype's minimum too: a row
/// whose every key is masked then averages instead of becoming NaN).
const MASKED: f32 = f32::MIN;

/// The attention of one decoder block.
#[derive(Debug, Clone)]
pub struct Attention {
    /// Query projection.
    pub q: Projection,
    /// Key projection.
    pub k: Projection,
    /// Value projection.
    pub v: Projection,
    /// Output projection.
    pub o: Projection,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    /// Loads `{prefix}.{q,k,v,o}_proj` (and `{q,k}_norm` for Qwen3).
    pub fn load(
        weights: &WeightFiles,
        prefix: &str,
        c: &ModelConfig,
        device: &Device,
    ) -> Result<Self> {
        let (h, kv, d) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let proj = |name: &str, i: usize, o: usize, bias: bool| {
            Projection::load(weights, &format!("{prefix}.{name}"), i, o, bias, device)
        };
        let norm = |name: &str| {
            RmsNorm::load(
                weights,
                &format!("{prefix}.{name}.weight"),
                d,
                c.rms_norm_eps,
                device,
            )
        };
        Ok(Self {
            q: proj("q_proj", c.hidden_size, h * d, c.qkv_bias)?,
            k: proj("k_proj", c.hidden_size, kv * d, c.qkv_bias)?,
            v: proj("v_proj", c.hidden_size, kv * d, c.qkv_bias)?,
            o: proj("o_proj", h * d, c.hidden_size, c.o_bias)?,
            q_norm: if c.qk_norm {
                Some(norm("q_norm")?)
            } else {
                None
            },
            k_norm: if c.qk_norm {
                Some(norm("k_norm")?)
            } else {
                None
            },
            heads: h,
            kv_heads: kv,
            head_dim: d,
        })
    }

    /// Attends over `x` `(batch, seq, hidden)`. `bias` is [`mask_bias`]'s
    /// tensor for this batch; `cos`/`sin` are [`rope::Rope::tables`].
    pub fn forward(&self, x: &Tensor, bias: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        self.forward_with(x, bias, cos, sin, &NO_ADAPTERS)
    }

    /// [`Attention::forward`] with adapters on q, k, v and o.
    pub fn forward_with(
        &self,
        x: &Tensor,
        bias: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        ad: &BlockAdapters<'_>,
    ) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let (h, kv, d) = (self.heads, self.kv_heads, self.head_dim);
        let heads = |t: Target, n: usize, norm: &Option<RmsNorm>| -> Result<Tensor> {
            let p = match t {
                Target::Q => &self.q,
                Target::K => &self.k,
                _ => &self.v,
            };
            let mut t = p.forward_with(x, ad[t.index()])?.reshape((b, s, n, d))?;
            if let Some(norm) = norm {
                t = norm.forward(&t)?;
            }
            Ok(t.transpose(1, 2)?.contiguous()?)
        };
        let q = rope::apply(&heads(Target::Q, h, &self.q_norm)?, cos, sin)?;
        let k = rope::apply(&heads(Target::K, kv, &self.k_norm)?, cos, sin)?;
        let v = heads(Target::V, kv, &None)?;
        let n_rep = h / kv;
        // (b, h, s, d) -> (b, kv, n_rep * s, d): the heads of one group are
        // consecutive, so this is a reshape, not a copy.
        let q = q.contiguous()?.reshape((b, kv, n_rep * s, d))?;
        let scale = 1.0 / (d as f64).sqrt();
        let scores = (matmul(&q, &k, Form::Nt)? * scale)?.broadcast_add(bias)?;
        let probs = softmax_last_dim(&scores)?;
        let out = matmul(&probs, &v, Form::Nn)?; // (b, kv, n_rep * s, d)
        let out = out
            .reshape((b, h, s, d))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, s, h * d))?;
        self.o.forward_with(&out, ad[Target::O.index()])
    }

    /// The same attention with every tensor converted to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        let norm = |n: &Option<RmsNorm>| n.as_ref().map(|n| n.to_dtype(dtype)).transpose();
        Ok(Self {
            q: self.q.to_dtype(dtype)?,
            k: self.k.to_dtype(dtype)?,
            v: self.v.to_dtype(dtype)?,
            o: self.o.to_dtype(dtype)?,
            q_norm: norm(&self.q_norm)?,
            k_norm: norm(&self.k_norm)?,
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
        })
    }
}

/// The additive attention bias for a right- or left-padded batch:
/// `(batch, 1, n_rep * seq, seq)`, 0 where query `i` may read key `j`
/// (`j <= i` and `j` is a real token), [`MASKED`] elsewhere; the `seq`
/// query rows are repeated `n_rep` times to match [`Attention`]'s grouped
/// layout. `mask` is `(batch * seq)`, 1 for real tokens.
pub fn mask_bias(
    mask: &[u32],
    batch: usize,
    seq: usize,
    n_rep: usize,
    device: &Device,
) -> Result<Tensor> {
    assert_eq!(mask.len(), batch * seq, "one mask value per token");
    let mut bias = Vec::with_capacity(batch * n_rep * seq * seq);
    for row in mask.chunks_exact(seq) {
        let one: Vec<f32> = (0..seq)
            .flat_map(|i| (0..seq).map(move |j| (i, j)))
            .map(|(i, j)| if j <= i && row[j] != 0 { 0.0 } else { MASKED })
            .collect();
        for _ in 0..n_rep {
            bias.extend_from_slice(&one);
        }
    }
    Ok(Tensor::from_vec(
        bias,
        (batch, 1, n_rep * seq, seq),
        device,
    )?)
}
