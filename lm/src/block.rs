//! One decoder block: pre-norm attention and a SwiGLU MLP, each added to
//! the residual stream.

use candle_core::{DType, Device, Tensor};

use crate::attention::Attention;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::lora::{BlockAdapters, NO_ADAPTERS, Target};
use crate::norm::RmsNorm;
use crate::projection::Projection;
use crate::weights::WeightFiles;

/// `down(silu(gate(x)) * up(x))`.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// Gate projection.
    pub gate: Projection,
    /// Up projection.
    pub up: Projection,
    /// Down projection.
    pub down: Projection,
}

impl Mlp {
    /// Applies the MLP to `x` `(..., hidden)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &NO_ADAPTERS)
    }

    /// [`Mlp::forward`] with the block's adapters on gate, up and down.
    pub fn forward_with(&self, x: &Tensor, ad: &BlockAdapters<'_>) -> Result<Tensor> {
        let gate = self.gate.forward_with(x, ad[Target::Gate.index()])?;
        let up = self.up.forward_with(x, ad[Target::Up.index()])?;
        self.down
            .forward_with(&(gate.silu()? * up)?, ad[Target::Down.index()])
    }
}

/// A decoder block.
#[derive(Debug, Clone)]
pub struct Block {
    /// Norm before attention.
    pub input_norm: RmsNorm,
    /// Self-attention.
    pub attention: Attention,
    /// Norm before the MLP.
    pub post_attention_norm: RmsNorm,
    /// The MLP.
    pub mlp: Mlp,
}

impl Block {
    /// Loads block `i` (`{prefix}layers.{i}.`).
    pub fn load(
        weights: &WeightFiles,
        prefix: &str,
        i: usize,
        c: &ModelConfig,
        device: &Device,
    ) -> Result<Self> {
        let p = format!("{prefix}layers.{i}");
        let (hs, is) = (c.hidden_size, c.intermediate_size);
        let proj = |name: &str, a: usize, b: usize| {
            Projection::load(
                weights,
                &format!("{p}.mlp.{name}"),
                a,
                b,
                c.mlp_bias,
                device,
            )
        };
        let norm = |name: &str| {
            RmsNorm::load(
                weights,
                &format!("{p}.{name}.weight"),
                hs,
                c.rms_norm_eps,
                device,
            )
        };
        Ok(Self {
            input_norm: norm("input_layernorm")?,
            attention: Attention::load(weights, &format!("{p}.self_attn"), c, device)?,
            post_attention_norm: norm("post_attention_layernorm")?,
            mlp: Mlp {
                gate: proj("gate_proj", hs, is)?,
                up: proj("up_proj", hs, is)?,
                down: proj("down_proj", is, hs)?,
            },
        })
    }

    /// The residual stream after this block.
    pub fn forward(&self, x: &Tensor, bias: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        self.forward_with(x, bias, cos, sin, &NO_ADAPTERS)
    }

    /// [`Block::forward`] with low-rank adapters on its projections.
    pub fn forward_with(
        &self,
        x: &Tensor,
        bias: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        ad: &BlockAdapters<'_>,
    ) -> Result<Tensor> {
        let attended =
            self.attention
                .forward_with(&self.input_norm.forward(x)?, bias, cos, sin, ad)?;
        let x = (x + attended)?;
        let mlp = self
            .mlp
            .forward_with(&self.post_attention_norm.forward(&x)?, ad)?;
        Ok((x + mlp)?)
    }

    /// The same block with every tensor converted to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Ok(Self {
            input_norm: self.input_norm.to_dtype(dtype)?,
            attention: self.attention.to_dtype(dtype)?,
            post_attention_norm: self.post_attention_norm.to_dtype(dtype)?,
            mlp: Mlp {
                gate: self.mlp.gate.to_dtype(dtype)?,
                up: self.mlp.up.to_dtype(dtype)?,
                down: self.mlp.down.to_dtype(dtype)?,
            },
        })
    }
}
