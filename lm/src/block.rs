//! One decoder block: pre-norm attention and a SwiGLU MLP, each added to
//! the residual stream.

use candle_core::{Device, Tensor};

use crate::attention::Attention;
use crate::config::ModelConfig;
use crate::error::Result;
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
        let gated = (self.gate.forward(x)?.silu()? * self.up.forward(x)?)?;
        self.down.forward(&gated)
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
        let attended = self
            .attention
            .forward(&self.input_norm.forward(x)?, bias, cos, sin)?;
        let x = (x + attended)?;
        let mlp = self.mlp.forward(&self.post_attention_norm.forward(&x)?)?;
        Ok((x + mlp)?)
    }
}
