//! One linear projection of a decoder block (q, k, v, o, gate, up, down).
//!
//! Every matrix product of the forward goes through [`Projection`], so a
//! low-rank adapter can later be attached in one place (a LoRA student adds
//! `x A^T B^T` to [`Projection::forward`]). The forward uses only tracked
//! candle ops, so gradients flow through it; on the CPU in `f32` the
//! products (the frozen weight's and the adapter's) are ours
//! (`crate::cpu_product`), with their own backward.

use candle_core::{D, DType, Device, Tensor};

use crate::cpu_product::{Form, matmul};
use crate::error::Result;
use crate::lora::Adapter;
use crate::weights::WeightFiles;

/// `y = x W^T (+ b)`, with `W` stored `(out, in)` as in Hugging Face
/// checkpoints.
#[derive(Debug, Clone)]
pub struct Projection {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Projection {
    /// Loads `{prefix}.weight` `(out, in)` and, when `bias`, `{prefix}.bias`.
    pub fn load(
        weights: &WeightFiles,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Self> {
        let weight = weights.load(&format!("{prefix}.weight"), &[out_dim, in_dim], device)?;
        let bias = if bias {
            Some(weights.load(&format!("{prefix}.bias"), &[out_dim], device)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    /// A projection from its parts (`weight` `(out, in)`, `bias` `(out)`).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// The weight, `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The same projection with its tensors converted to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Ok(Self {
            weight: self.weight.to_dtype(dtype)?,
            bias: self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?,
        })
    }

    /// Applies the projection to the last dimension of `x` `(..., in)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, None)
    }

    /// [`Projection::forward`] plus, when given, a low-rank adapter's
    /// `scale * (x A^T) B^T` (see [`crate::lora`]).
    pub fn forward_with(&self, x: &Tensor, adapter: Option<Adapter<'_>>) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = *dims.last().expect("rank >= 1");
        let rows = x.elem_count() / in_dim.max(1);
        let flat = x.reshape((rows, in_dim))?;
        let mut y = matmul(&flat, &self.weight, Form::Nt)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(ad) = adapter {
            let low = matmul(&matmul(&flat, ad.a, Form::Nt)?, ad.b, Form::Nt)?;
            y = (y + (low * ad.scale)?)?;
        }
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank >= 1") = y.dim(D::Minus1)?;
        Ok(y.reshape(out_dims)?)
    }
}
