//! The heads' train step as candle ops, on any device (what CUDA runs),
//! and the batch checks both paths share.

use candle_core::{D, DType, Tensor};

use super::Head;
use crate::arch::Arch;
use crate::error::{Result, TrainError};

impl Head {
    pub(super) fn dense(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(w)?.broadcast_add(b)?)
    }

    /// The representation that feeds the final layer, and the
    /// pre-activation of the hidden layer (MLP only), as candle ops.
    pub(super) fn trunk(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        match self.arch {
            Arch::Linear => Ok((x.clone(), None)),
            Arch::Mlp { .. } => {
                let pre = Self::dense(x, &self.params[0], &self.params[1])?;
                Ok((pre.relu()?, Some(pre)))
            }
        }
    }

    pub(super) fn last_layer(&self) -> (&Tensor, &Tensor) {
        let n = self.params.len();
        (&self.params[n - 2], &self.params[n - 1])
    }

    /// [`Head::loss_and_grads`] as candle ops, on any device: what runs
    /// where the CPU path does not (CUDA). Public so that tests can hold it
    /// against the CPU path.
    pub fn loss_and_grads_on_device(
        &self,
        x: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
    ) -> Result<(f32, Vec<Tensor>)> {
        self.check_input(x)?;
        let (h, pre) = self.trunk(x)?;
        let (w_last, b_last) = self.last_layer();
        let z = Self::dense(&h, w_last, b_last)?;
        let (logp, p) = log_softmax_and_softmax(&z)?;
        // The total weight and the weighted sum in f64, as on the CPU: the
        // host accepts weights whose f32 sum would overflow.
        let weights64 = weights.to_dtype(DType::F64)?;
        let total_weight = weights64.sum_all()?.to_scalar::<f64>()?;
        let scale = 1.0 / total_weight;
        // Per-example CE, weighted.
        let ce = (targets * &logp)?.sum(D::Minus1)?.neg()?;
        let weighted = (ce.to_dtype(DType::F64)? * &weights64)?.sum_all()?;
        let loss = (weighted.to_scalar::<f64>()? * scale) as f32;
        let scale = f64::from(scale as f32);
        // dL/dz_ic = w_i / W * (p_ic * sum_c t_ic - t_ic).
        let row_mass = targets.sum_keepdim(D::Minus1)?;
        let coeff = (weights * scale)?.unsqueeze(1)?;
        let dz = (p.broadcast_mul(&row_mass)? - targets)?.broadcast_mul(&coeff)?;
        let dw_last = h.t()?.matmul(&dz)?;
        let db_last = dz.sum(0)?;
        let grads = match pre {
            None => vec![dw_last, db_last],
            Some(pre) => {
                let dh = dz.matmul(&w_last.t()?)?;
                let mask = pre.gt(0.0)?.to_dtype(DType::F32)?;
                let dpre = (dh * mask)?;
                let dw0 = x.t()?.matmul(&dpre)?;
                let db0 = dpre.sum(0)?;
                vec![dw0, db0, dw_last, db_last]
            }
        };
        Ok((loss, grads))
    }
}

/// Numerically stable log-softmax and softmax over the last dimension.
pub fn log_softmax_and_softmax(z: &Tensor) -> Result<(Tensor, Tensor)> {
    let max = z.max_keepdim(D::Minus1)?;
    let shifted = z.broadcast_sub(&max)?;
    let exp = shifted.exp()?;
    let sum = exp.sum_keepdim(D::Minus1)?;
    let logp = shifted.broadcast_sub(&sum.log()?)?;
    let p = exp.broadcast_div(&sum)?;
    Ok((logp, p))
}

/// Checks a training batch given as flat host values: `targets` has
/// `n * classes` finite non-negative values, `weights` has `n` finite
/// non-negative values with a positive sum.
pub fn validate_batch(n: usize, classes: usize, targets: &[f32], weights: &[f32]) -> Result<()> {
    if n == 0 {
        return Err(TrainError::invalid("indices", "batch is empty"));
    }
    if targets.len() != n * classes {
        return Err(TrainError::invalid(
            "targets",
            format!(
                "expected {} values (indices x classes), got {}",
                n * classes,
                targets.len()
            ),
        ));
    }
    if weights.len() != n {
        return Err(TrainError::invalid(
            "weights",
            format!("expected {n} values (one per index), got {}", weights.len()),
        ));
    }
    if let Some(i) = targets.iter().position(|t| !t.is_finite() || *t < 0.0) {
        return Err(TrainError::invalid(
            "targets",
            format!("value {i} is negative or not finite"),
        ));
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
        return Err(TrainError::invalid(
            "weights",
            format!("value {i} is negative or not finite"),
        ));
    }
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    if total <= 0.0 || !total.is_finite() {
        return Err(TrainError::invalid(
            "weights",
            "sum must be positive and finite",
        ));
    }
    Ok(())
}
