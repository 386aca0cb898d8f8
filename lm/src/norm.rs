//! RMSNorm and softmax, with a backward pass.
//!
//! candle-core's fused `softmax_last_dim` and candle-nn's fused RMSNorm
//! have no backward pass; a student that fine-tunes the backbone needs one.
//! On the CPU in `f32` the norm is our own op with its own backward
//! (`crate::cpu_norm`); elsewhere, and for the softmax, they are composed
//! from candle ops that have one (the same composition as
//! `candle_nn::ops::softmax`).

use candle_core::{D, DType, Device, Tensor};

use crate::cpu_norm::RmsNormOp;
use crate::error::Result;
use crate::weights::WeightFiles;

/// Root-mean-square normalization over the last dimension, with a learned
/// scale: `w * x / sqrt(mean(x^2) + eps)` (Hugging Face's `LlamaRMSNorm`).
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Loads `{name}` `(dim)`.
    pub fn load(
        weights: &WeightFiles,
        name: &str,
        dim: usize,
        eps: f64,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            weight: weights.load(name, &[dim], device)?,
            eps,
        })
    }

    /// A norm from its scale `(dim)` and `eps`.
    pub fn new(weight: Tensor, eps: f64) -> Self {
        Self { weight, eps }
    }

    /// The same norm with its scale converted to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Ok(Self {
            weight: self.weight.to_dtype(dtype)?,
            eps: self.eps,
        })
    }

    /// Normalizes `x` `(..., dim)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() && x.dtype() == DType::F32 && self.weight.dtype() == DType::F32 {
            let op = RmsNormOp {
                eps: self.eps as f32,
            };
            return Ok(x.contiguous()?.apply_op2(&self.weight, op)?);
        }
        let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv_rms = (mean_sq + self.eps)?.sqrt()?.recip()?;
        Ok(x.broadcast_mul(&inv_rms)?.broadcast_mul(&self.weight)?)
    }
}

/// Softmax over the last dimension, from differentiable ops (max
/// subtracted first, so large scores do not overflow).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let exp = x.broadcast_sub(&max)?.exp()?;
    let sum = exp.sum_keepdim(D::Minus1)?;
    Ok(exp.broadcast_div(&sum)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_match_the_closed_form() {
        let x = Tensor::new(
            &[[1.0f32, 2.0, 3.0], [1000.0, 1000.0, f32::MIN]],
            &Device::Cpu,
        )
        .unwrap();
        let p = softmax_last_dim(&x).unwrap().to_vec2::<f32>().unwrap();
        // e^0, e^1, e^2 over their sum (closed form).
        let z = 1.0 + 1f32.exp() + 2f32.exp();
        for (a, b) in p[0].iter().zip([1.0 / z, 1f32.exp() / z, 2f32.exp() / z]) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(p[1], vec![0.5, 0.5, 0.0]);
    }
}
