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
    /// First moments (AdamW) or momentum buffers (SGD), one per parameter,
    /// row-major, for parameters on the CPU.
    first: Vec<Vec<f32>>,
    /// Second moments (AdamW only), for parameters on the CPU.
    second: Vec<Vec<f32>>,
    /// The same moments as tensors, for parameters on another device.
    on_device: Vec<DeviceMoments>,
}

/// One parameter's moments on its device.
#[derive(Debug, Clone)]
struct DeviceMoments {
    first: Tensor,
    second: Tensor,
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
            on_device: Vec::new(),
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
    /// Parameters on the CPU go through [`Optimizer::update_host`];
    /// parameters on another device are updated there, as candle ops.
    pub fn update(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        if params.len() != grads.len()
            || grads
                .iter()
                .zip(params.iter())
                .any(|(g, p)| g.dims() != p.dims())
        {
            return Err(TrainError::OptimizerMismatch);
        }
        if params.iter().all(|p| p.device().is_cpu()) {
            let grads = grads
                .iter()
                .map(|g| g.flatten_all()?.to_vec1::<f32>())
                .collect::<candle_core::Result<Vec<_>>>()?;
            return self.update_host(params, &grads);
        }
        self.update_on_device(params, grads)
    }

    /// Checks the state against `params` (creating it on the first step)
    /// and counts the step.
    fn begin_step(&mut self, params: &[Tensor], on_device: bool) -> Result<()> {
        let held = if on_device {
            self.on_device.len()
        } else {
            self.first.len()
        };
        let other = if on_device {
            self.first.len()
        } else {
            self.on_device.len()
        };
        if other != 0 {
            // The parameters moved between the CPU and a device.
            return Err(TrainError::OptimizerMismatch);
        }
        if held == 0 {
            if on_device {
                self.on_device = params
                    .iter()
                    .map(|p| {
                        Ok(DeviceMoments {
                            first: p.zeros_like()?,
                            second: p.zeros_like()?,
                        })
                    })
                    .collect::<candle_core::Result<_>>()?;
            } else {
                self.first = params.iter().map(|p| vec![0.0; p.elem_count()]).collect();
                if self.config.kind == OptimizerKind::AdamW {
                    self.second = self.first.clone();
                }
            }
        } else if held != params.len()
            || (0..held).any(|i| {
                let count = if on_device {
                    self.on_device[i].first.elem_count()
                } else {
                    self.first[i].len()
                };
                count != params[i].elem_count()
            })
        {
            return Err(TrainError::OptimizerMismatch);
        }
        self.step += 1;
        Ok(())
    }

    /// The update on the CPU, with the gradients as host values (row-major,
    /// one buffer per parameter).
    ///
    /// One fused pass per parameter over plain buffers (the moments live in
    /// `Vec<f32>`s, updated in place), instead of a dozen candle ops that
    /// each allocate a tensor. Each value goes through the same f32
    /// operations, in the same order, as the candle op chain of
    /// [`Optimizer::update`] on a device (candle's `affine(mul, add)` is
    /// `v * mul + add` with `mul` and `add` rounded to f32, and a tensor
    /// times or over an f64 scalar is an `affine`): on the CPU the two are
    /// bit-identical, which the test
    /// `fused_update_equals_the_candle_op_chain` checks.
    pub fn update_host(&mut self, params: &mut [Tensor], grads: &[Vec<f32>]) -> Result<()> {
        if params.len() != grads.len()
            || grads
                .iter()
                .zip(params.iter())
                .any(|(g, p)| g.len() != p.elem_count())
        {
            return Err(TrainError::OptimizerMismatch);
        }
        self.begin_step(params, false)?;
        let c = self.config;
        let lr = f64::from(c.learning_rate);
        let wd = f64::from(c.weight_decay);
        for i in 0..params.len() {
            let mut p = params[i].flatten_all()?.to_vec1::<f32>()?;
            let g = &grads[i];
            match c.kind {
                OptimizerKind::AdamW => {
                    let k = AdamWConstants::new(&c, self.step);
                    adamw_in_place(&mut p, g, &mut self.first[i], &mut self.second[i], &k);
                }
                OptimizerKind::Sgd => {
                    let mu = f64::from(c.momentum);
                    let first_step = self.step == 1;
                    for ((p, &g), buf) in p.iter_mut().zip(g).zip(self.first[i].iter_mut()) {
                        let mut g = g;
                        if wd > 0.0 {
                            g += affine(*p, wd as f32, 0.0);
                        }
                        if mu > 0.0 {
                            *buf = if first_step {
                                g
                            } else {
                                affine(*buf, mu as f32, 0.0) + g
                            };
                            g = *buf;
                        }
                        *p -= affine(g, lr as f32, 0.0);
                    }
                }
            }
            params[i] = Tensor::from_vec(p, params[i].dims(), params[i].device())?;
        }
        Ok(())
    }

    /// The update as candle ops on the parameters' device (CUDA), the
    /// moments held there as tensors. Public so that tests can run it on
    /// the CPU against [`Optimizer::update_host`].
    pub fn update_on_device(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        if params.len() != grads.len() {
            return Err(TrainError::OptimizerMismatch);
        }
        self.begin_step(params, true)?;
        let c = self.config;
        let lr = f64::from(c.learning_rate);
        let wd = f64::from(c.weight_decay);
        for ((p, g), m) in params.iter_mut().zip(grads).zip(&mut self.on_device) {
            match c.kind {
                OptimizerKind::AdamW => {
                    let (b1, b2) = (f64::from(c.beta1), f64::from(c.beta2));
                    let t = self.step as i32;
                    let (bias1, bias2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                    m.first = ((&m.first * b1)? + (g * (1.0 - b1))?)?;
                    m.second = ((&m.second * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let denom = ((&m.second / bias2)?.sqrt()? + f64::from(c.eps))?;
                    let step = ((&m.first / bias1)? / denom)?;
                    *p = ((&*p * (1.0 - lr * wd))? - (step * lr)?)?;
                }
                OptimizerKind::Sgd => {
                    let mu = f64::from(c.momentum);
                    let mut g = g.clone();
                    if wd > 0.0 {
                        g = (g + (&*p * wd)?)?;
                    }
                    if mu > 0.0 {
                        m.first = if self.step == 1 {
                            g
                        } else {
                            ((&m.first * mu)? + g)?
                        };
                        g = m.first.clone();
                    }
                    *p = (&*p - (g * lr)?)?;
                }
            }
        }
        Ok(())
    }
}

/// candle's `affine` on one value: `v * mul + add` (no fused multiply-add).
#[inline(always)]
fn affine(v: f32, mul: f32, add: f32) -> f32 {
    v * mul + add
}

/// The per-step constants of AdamW, rounded to f32 as candle rounds them.
struct AdamWConstants {
    b1: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    inv_bias1: f32,
    inv_bias2: f32,
    eps: f32,
    decay: f32,
    lr: f32,
}

impl AdamWConstants {
    fn new(c: &OptimizerConfig, step: u64) -> Self {
        let lr = f64::from(c.learning_rate);
        let wd = f64::from(c.weight_decay);
        let (b1, b2) = (f64::from(c.beta1), f64::from(c.beta2));
        let t = step as i32;
        Self {
            b1: b1 as f32,
            one_minus_b1: (1.0 - b1) as f32,
            b2: b2 as f32,
            one_minus_b2: (1.0 - b2) as f32,
            inv_bias1: (1.0 / (1.0 - b1.powi(t))) as f32,
            inv_bias2: (1.0 / (1.0 - b2.powi(t))) as f32,
            eps: c.eps,
            decay: (1.0 - lr * wd) as f32,
            lr: lr as f32,
        }
    }
}

/// One AdamW update of `p` with gradient `g` and moments `m`, `v`, in
/// place (see [`adamw_body`]), vectorised with AVX-512 where the CPU has
/// it. Every operation is an IEEE-rounded add, multiply, divide or square
/// root of one value, never fused or reassociated, so the vector width
/// changes nothing in the result.
fn adamw_in_place(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamWConstants) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked on the line above), the one
        // requirement of a `target_feature` function.
        #[allow(unsafe_code)]
        unsafe {
            adamw_avx512(p, g, m, v, k);
        }
        return;
    }
    adamw_body(p, g, m, v, k);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn adamw_avx512(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamWConstants) {
    adamw_body(p, g, m, v, k);
}

/// One AdamW update of `p` with gradient `g` and moments `m`, `v`, in
/// place, value by value as the candle chain
/// `m = m*b1 + g*(1-b1); v = v*b2 + g^2*(1-b2);
/// p = p*(1-lr*wd) - lr * (m/bias1) / (sqrt(v/bias2) + eps)`.
#[inline(always)]
fn adamw_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamWConstants) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = affine(*m, k.b1, 0.0) + affine(g, k.one_minus_b1, 0.0);
        *v = affine(*v, k.b2, 0.0) + affine(g * g, k.one_minus_b2, 0.0);
        let denom = affine(affine(*v, k.inv_bias2, 0.0).sqrt(), 1.0, k.eps);
        let step = affine(*m, k.inv_bias1, 0.0) / denom;
        *p = affine(*p, k.decay, 0.0) - affine(step, k.lr, 0.0);
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

    /// The update as a chain of candle ops: the implementation before the
    /// fused loop, kept as the reference it must equal bit for bit.
    fn candle_chain(
        c: OptimizerConfig,
        step: i32,
        p: &Tensor,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
    ) -> (Tensor, Tensor, Tensor) {
        let lr = f64::from(c.learning_rate);
        let wd = f64::from(c.weight_decay);
        let (b1, b2) = (f64::from(c.beta1), f64::from(c.beta2));
        let bias1 = 1.0 - b1.powi(step);
        let bias2 = 1.0 - b2.powi(step);
        let m = ((m * b1).unwrap() + (g * (1.0 - b1)).unwrap()).unwrap();
        let v = ((v * b2).unwrap() + (g.sqr().unwrap() * (1.0 - b2)).unwrap()).unwrap();
        let denom = ((&v / bias2).unwrap().sqrt().unwrap() + f64::from(c.eps)).unwrap();
        let s = ((&m / bias1).unwrap() / denom).unwrap();
        let decayed = (p * (1.0 - lr * wd)).unwrap();
        let p = (decayed - (s * lr).unwrap()).unwrap();
        (p, m, v)
    }

    #[test]
    fn fused_update_equals_the_candle_op_chain() {
        // The host update, the device update (run here on the CPU) and the
        // op chain written out above: the same bits at every step.
        let dev = Device::Cpu;
        let mut rng = crate::rng::Rng::new(9);
        let mut draw = |n: usize| -> Tensor {
            let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            Tensor::from_vec(v, n, &dev).unwrap()
        };
        let n = 1000;
        let cfg = OptimizerConfig::adamw(3e-3);
        let mut fused = vec![draw(n)];
        let mut on_device = fused.clone();
        let mut reference = fused[0].clone();
        let zeros = Tensor::zeros(n, candle_core::DType::F32, &dev).unwrap();
        let (mut m, mut v) = (zeros.clone(), zeros);
        let mut opt = Optimizer::new(cfg).unwrap();
        let mut opt_device = Optimizer::new(cfg).unwrap();
        for step in 1..=20 {
            let g = draw(n);
            opt.update(&mut fused, std::slice::from_ref(&g)).unwrap();
            opt_device
                .update_on_device(&mut on_device, std::slice::from_ref(&g))
                .unwrap();
            (reference, m, v) = candle_chain(cfg, step, &reference, &g, &m, &v);
            let a = fused[0].to_vec1::<f32>().unwrap();
            let b = reference.to_vec1::<f32>().unwrap();
            let d = on_device[0].to_vec1::<f32>().unwrap();
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "step {step} differs"
            );
            assert!(
                a.iter().zip(&d).all(|(x, y)| x.to_bits() == y.to_bits()),
                "step {step}: the device update differs"
            );
        }
    }

    #[test]
    fn sgd_on_device_equals_sgd_on_host() {
        let dev = Device::Cpu;
        let cfg = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            learning_rate: 0.1,
            weight_decay: 0.01,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            momentum: 0.9,
        };
        let start = Tensor::new(&[1.0f32, -2.0, 0.25], &dev).unwrap();
        let (mut host, mut device) = (vec![start.clone()], vec![start]);
        let (mut o1, mut o2) = (Optimizer::new(cfg).unwrap(), Optimizer::new(cfg).unwrap());
        for step in 0..5 {
            let g = Tensor::new(&[0.5f32 * step as f32, -3.0, 1.0], &dev).unwrap();
            o1.update(&mut host, std::slice::from_ref(&g)).unwrap();
            o2.update_on_device(&mut device, std::slice::from_ref(&g))
                .unwrap();
        }
        let (a, b) = (
            host[0].to_vec1::<f32>().unwrap(),
            device[0].to_vec1::<f32>().unwrap(),
        );
        assert_eq!(a, b);
        // State on one side cannot serve the other.
        assert!(matches!(
            o1.update_on_device(&mut device, &[host[0].clone()]),
            Err(TrainError::OptimizerMismatch)
        ));
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
