//! Optimizers: AdamW and SGD with momentum, applied to a head's parameters.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).
    AdamW,
    /// SGD with optional momentum and coupled weight decay (PyTorch's rule).
    Sgd,
}

/// Optimizer hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Learning rate, in (0, 10].
    pub learning_rate: f32,
    /// Weight decay, in [0, 1].
    pub weight_decay: f32,
    /// Adam's first-moment decay, in [0, 1).
    pub beta1: f32,
    /// Adam's second-moment decay, in [0, 1).
    pub beta2: f32,
    /// Adam's denominator epsilon, in (0, 1].
    pub eps: f32,
    /// SGD momentum, in [0, 1).
    pub momentum: f32,
}

impl OptimizerConfig {
    /// AdamW with PyTorch's defaults (betas 0.9/0.999, eps 1e-8, weight
    /// decay 0.01) and the given learning rate.
    pub fn adamw(learning_rate: f32) -> Self {
        Self {
            kind: OptimizerKind::AdamW,
            learning_rate,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum: 0.0,
        }
    }

    /// Checks every field's range; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_lr(self.learning_rate)?;
        let fields: [(&'static str, f32, bool, &'static str); 4] = [
            (
                "weight_decay",
                self.weight_decay,
                (0.0..=1.0).contains(&self.weight_decay),
                "must be in [0, 1]",
            ),
            (
                "beta1",
                self.beta1,
                (0.0..1.0).contains(&self.beta1),
                "must be in [0, 1)",
            ),
            (
                "beta2",
                self.beta2,
                (0.0..1.0).contains(&self.beta2),
                "must be in [0, 1)",
            ),
            (
                "momentum",
                self.momentum,
                (0.0..1.0).contains(&self.momentum),
                "must be in [0, 1)",
            ),
        ];
        for (field, value, ok, reason) in fields {
            if !ok {
                return Err(TrainError::InvalidOptimizer {
                    field,
                    value,
                    reason,
                });
            }
        }
        if self.kind == OptimizerKind::AdamW && !(self.eps > 0.0 && self.eps <= 1.0) {
            return Err(TrainError::InvalidOptimizer {
                field: "eps",
                value: self.eps,
                reason: "must be in (0, 1]",
            });
        }
        Ok(())
    }
}

fn check_lr(lr: f32) -> Result<()> {
    if lr > 0.0 && lr <= 10.0 {
        Ok(())
    } else {
        Err(TrainError::InvalidOptimizer {
            field: "learning_rate",
            value: lr,
            reason: "must be in (0, 10]",
        })
    }
}

/// An optimizer: its configuration and, once it has stepped, its state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    config: OptimizerConfig,
    step: u64,
    /// First moments (AdamW) or momentum buffers (SGD), one per parameter.
    first: Vec<Tensor>,
    /// Second moments (AdamW only).
    second: Vec<Tensor>,
}

impl Optimizer {
    /// A fresh optimizer; fails on an out-of-range hyperparameter.
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            step: 0,
            first: Vec::new(),
            second: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Number of updates applied so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Changes the learning rate for later steps.
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        check_lr(lr)?;
        self.config.learning_rate = lr;
        Ok(())
    }

    /// Bytes of state this optimizer holds (or will hold) for `params`
    /// parameters.
    pub fn state_bytes(kind: OptimizerKind, params: u64) -> u64 {
        let buffers = match kind {
            OptimizerKind::AdamW => 2,
            OptimizerKind::Sgd => 1,
        };
        buffers * params * 4
    }

    /// Applies one update to `params` given their gradients, in order.
    pub fn update(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        if params.len() != grads.len() {
            return Err(TrainError::OptimizerMismatch);
        }
        if self.first.is_empty() {
            self.first = params
                .iter()
                .map(Tensor::zeros_like)
                .collect::<candle_core::Result<_>>()?;
            if self.config.kind == OptimizerKind::AdamW {
                self.second = self.first.clone();
            }
        } else if self.first.len() != params.len()
            || self
                .first
                .iter()
                .zip(params.iter())
                .any(|(m, p)| m.dims() != p.dims())
        {
            return Err(TrainError::OptimizerMismatch);
        }
        self.step += 1;
        let c = self.config;
        let lr = f64::from(c.learning_rate);
        let wd = f64::from(c.weight_decay);
        match c.kind {
            OptimizerKind::AdamW => {
                let (b1, b2) = (f64::from(c.beta1), f64::from(c.beta2));
                let t = self.step as i32;
                let bias1 = 1.0 - b1.powi(t);
                let bias2 = 1.0 - b2.powi(t);
                for i in 0..params.len() {
                    let g = &grads[i];
                    let m = ((&self.first[i] * b1)? + (g * (1.0 - b1))?)?;
                    let v = ((&self.second[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let denom = ((&v / bias2)?.sqrt()? + f64::from(c.eps))?;
                    let step = ((&m / bias1)? / denom)?;
                    let decayed = (&params[i] * (1.0 - lr * wd))?;
                    params[i] = (decayed - (step * lr)?)?;
                    self.first[i] = m;
                    self.second[i] = v;
                }
            }
            OptimizerKind::Sgd => {
                let mu = f64::from(c.momentum);
                for i in 0..params.len() {
                    let mut g = grads[i].clone();
                    if wd > 0.0 {
                        g = (g + (&params[i] * wd)?)?;
                    }
                    if mu > 0.0 {
                        let buf = if self.step == 1 {
                            g
                        } else {
                            ((&self.first[i] * mu)? + g)?
                        };
                        self.first[i] = buf.clone();
                        g = buf;
                    }
                    params[i] = (&params[i] - (g * lr)?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn rejects_bad_learning_rates() {
        for lr in [0.0, -1.0, f32::NAN, f32::INFINITY, 11.0] {
            let err = Optimizer::new(OptimizerConfig::adamw(lr)).unwrap_err();
            assert!(
                matches!(
                    err,
                    TrainError::InvalidOptimizer {
                        field: "learning_rate",
                        ..
                    }
                ),
                "{lr}"
            );
        }
    }

    #[test]
    fn adamw_first_step_moves_by_lr() {
        // With bias correction, Adam's first step is lr * sign(g) (up to eps),
        // plus the decoupled decay lr * wd * p.
        let dev = Device::Cpu;
        let mut params = vec![Tensor::new(&[1.0f32, -2.0], &dev).unwrap()];
        let grads = vec![Tensor::new(&[0.5f32, -3.0], &dev).unwrap()];
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.1)).unwrap();
        opt.update(&mut params, &grads).unwrap();
        let p = params[0].to_vec1::<f32>().unwrap();
        let expect = [
            1.0 * (1.0 - 0.1 * 0.01) - 0.1,
            -2.0 * (1.0 - 0.1 * 0.01) + 0.1,
        ];
        for (a, b) in p.iter().zip(expect) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn sgd_with_momentum_matches_pytorch_rule() {
        // buf1 = g; buf2 = mu * buf1 + g; p -= lr * buf.
        let dev = Device::Cpu;
        let cfg = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            learning_rate: 0.5,
            weight_decay: 0.0,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            momentum: 0.9,
        };
        let mut params = vec![Tensor::new(&[1.0f32], &dev).unwrap()];
        let grads = vec![Tensor::new(&[1.0f32], &dev).unwrap()];
        let mut opt = Optimizer::new(cfg).unwrap();
        opt.update(&mut params, &grads).unwrap();
        opt.update(&mut params, &grads).unwrap();
        let p = params[0].to_vec1::<f32>().unwrap()[0];
        assert!((p - (1.0 - 0.5 - 0.5 * 1.9)).abs() < 1e-6, "{p}");
    }

    #[test]
    fn state_is_bound_to_shapes() {
        let dev = Device::Cpu;
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.1)).unwrap();
        let mut a = vec![Tensor::zeros(3, candle_core::DType::F32, &dev).unwrap()];
        let ga = a.clone();
        opt.update(&mut a, &ga).unwrap();
        let mut b = vec![Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap()];
        let gb = b.clone();
        assert!(matches!(
            opt.update(&mut b, &gb),
            Err(TrainError::OptimizerMismatch)
        ));
    }
}
