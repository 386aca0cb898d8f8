//! Student heads with a fused forward and hand-written backward.
//!
//! A head is a stack of dense layers over frozen strong features. The train
//! step computes weighted soft-label cross-entropy and its gradient in one
//! pass without autograd: it is the hot path of every strategy, and candle's
//! per-op overhead (~200 ns) and graph bookkeeping would dominate a small
//! head. The gradient is checked against finite differences in the tests.

use candle_core::{D, DType, Device, Tensor};

use crate::arch::Arch;
use crate::error::{Result, TrainError};
use crate::matmul::matmul;
use crate::optim::Optimizer;
use crate::rng::Rng;

/// A trainable head. Parameters are `[w0, b0, w1, b1, ...]` with `w` of
/// shape `(in, out)` and `b` of shape `(out)`.
#[derive(Debug, Clone)]
pub struct Head {
    arch: Arch,
    in_dim: usize,
    classes: usize,
    params: Vec<Tensor>,
}

/// What a train step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Weighted mean cross-entropy before the update.
    pub loss: f32,
}

impl Head {
    /// A head with weights drawn from `seed` the way PyTorch's `nn.Linear`
    /// draws them: uniform in `±1/sqrt(fan_in)` for weights and biases.
    pub fn init(
        arch: Arch,
        in_dim: usize,
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if in_dim == 0 || classes < 2 {
            return Err(TrainError::invalid(
                "shape",
                "need in_dim > 0 and at least 2 classes",
            ));
        }
        if let Arch::Mlp { hidden: 0 } = arch {
            return Err(TrainError::invalid("hidden", "must be positive"));
        }
        let mut rng = Rng::for_stream(seed, "head-init");
        let mut params = Vec::new();
        for (fan_in, fan_out) in arch.layer_shapes(in_dim, classes) {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
                    .collect()
            };
            let w = draw(fan_in * fan_out);
            let b = draw(fan_out);
            params.push(Tensor::from_vec(w, (fan_in, fan_out), device)?);
            params.push(Tensor::from_vec(b, fan_out, device)?);
        }
        Ok(Self {
            arch,
            in_dim,
            classes,
            params,
        })
    }

    /// A head from explicit parameters; shapes are checked against `arch`.
    pub fn from_params(
        arch: Arch,
        in_dim: usize,
        classes: usize,
        params: Vec<Tensor>,
    ) -> Result<Self> {
        let shapes = arch.layer_shapes(in_dim, classes);
        if params.len() != 2 * shapes.len() {
            return Err(TrainError::invalid(
                "params",
                format!(
                    "expected {} tensors, got {}",
                    2 * shapes.len(),
                    params.len()
                ),
            ));
        }
        for (l, &(i, o)) in shapes.iter().enumerate() {
            if params[2 * l].dims() != [i, o] || params[2 * l + 1].dims() != [o] {
                return Err(TrainError::invalid(
                    "params",
                    format!("layer {l} has the wrong shape"),
                ));
            }
            if params[2 * l].dtype() != DType::F32 || params[2 * l + 1].dtype() != DType::F32 {
                return Err(TrainError::invalid(
                    "params",
                    format!("layer {l} is not f32"),
                ));
            }
        }
        Ok(Self {
            arch,
            in_dim,
            classes,
            params,
        })
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The parameters, `[w0, b0, w1, b1, ...]`.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Bytes held by the parameters.
    pub fn param_bytes(&self) -> u64 {
        self.arch.param_count(self.in_dim, self.classes) * 4
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        match x.dims() {
            [_, d] if *d == self.in_dim => Ok(()),
            dims => Err(TrainError::invalid(
                "features",
                format!("expected (n, {}), got {dims:?}", self.in_dim),
            )),
        }
    }

    fn dense(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(matmul(x, w)?.broadcast_add(b)?)
    }

    /// The representation that feeds the final layer, and the
    /// pre-activation of the hidden layer (MLP only).
    fn trunk(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        match self.arch {
            Arch::Linear => Ok((x.clone(), None)),
            Arch::Mlp { .. } => {
                let pre = Self::dense(x, &self.params[0], &self.params[1])?;
                Ok((pre.relu()?, Some(pre)))
            }
        }
    }

    fn last_layer(&self) -> (&Tensor, &Tensor) {
        let n = self.params.len();
        (&self.params[n - 2], &self.params[n - 1])
    }

    /// Logits for a batch of features `(n, in_dim)`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let (h, _) = self.trunk(x)?;
        let (w, b) = self.last_layer();
        Self::dense(&h, w, b)
    }

    /// Class probabilities `(n, classes)`.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        let (_, probs) = log_softmax_and_softmax(&self.logits(x)?)?;
        Ok(probs)
    }

    /// The representation that feeds the final layer, `(n, hidden_dim)`.
    pub fn hidden(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        Ok(self.trunk(x)?.0)
    }

    /// One optimizer update with gradients computed elsewhere (autograd),
    /// in [`Head::params`] order.
    pub fn apply_gradients(&mut self, opt: &mut Optimizer, grads: &[Tensor]) -> Result<()> {
        opt.update(&mut self.params, grads)
    }

    /// Replaces the parameters, checking their shapes (see
    /// [`Head::from_params`]).
    pub fn set_params(&mut self, params: Vec<Tensor>) -> Result<()> {
        *self = Self::from_params(self.arch, self.in_dim, self.classes, params)?;
        Ok(())
    }

    /// Adds Gaussian noise of standard deviation `std` to every parameter,
    /// drawn from `seed` with the crate's own generator.
    pub fn add_noise(&mut self, seed: u64, std: f32) -> Result<()> {
        let mut rng = Rng::for_stream(seed, "head-noise");
        let mut out = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let noise: Vec<f32> = (0..p.elem_count())
                .map(|_| (rng.normal() * f64::from(std)) as f32)
                .collect();
            let noise = Tensor::from_vec(noise, p.dims(), p.device())?;
            out.push((p + noise)?);
        }
        self.params = out;
        Ok(())
    }

    /// Loss and parameter gradients of weighted soft-label cross-entropy
    /// `sum_i w_i * -sum_c t_ic log p_ic / sum_i w_i`. Arguments must already
    /// be validated (see [`validate_batch`]).
    pub fn loss_and_grads(
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
        let total_weight = weights.sum_all()?.to_scalar::<f32>()?;
        let scale = 1.0 / f64::from(total_weight);
        // Per-example CE, weighted.
        let ce = (targets * &logp)?.sum(D::Minus1)?.neg()?;
        let loss = ((&ce * weights)?.sum_all()? * scale)?.to_scalar::<f32>()?;
        // dL/dz_ic = w_i / W * (p_ic * sum_c t_ic - t_ic).
        let row_mass = targets.sum_keepdim(D::Minus1)?;
        let coeff = (weights * scale)?.unsqueeze(1)?;
        let dz = (p.broadcast_mul(&row_mass)? - targets)?.broadcast_mul(&coeff)?;
        let dw_last = matmul(&h.t()?, &dz)?;
        let db_last = dz.sum(0)?;
        let grads = match pre {
            None => vec![dw_last, db_last],
            Some(pre) => {
                let dh = matmul(&dz, &w_last.t()?)?;
                let mask = pre.gt(0.0)?.to_dtype(DType::F32)?;
                let dpre = (dh * mask)?;
                let dw0 = matmul(&x.t()?, &dpre)?;
                let db0 = dpre.sum(0)?;
                vec![dw0, db0, dw_last, db_last]
            }
        };
        Ok((loss, grads))
    }

    /// One fused step: loss, gradient, optimizer update. Returns the loss
    /// before the update.
    pub fn train_step(
        &mut self,
        opt: &mut Optimizer,
        x: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
    ) -> Result<StepStats> {
        let (loss, grads) = self.loss_and_grads(x, targets, weights)?;
        opt.update(&mut self.params, &grads)?;
        Ok(StepStats { loss })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::OptimizerConfig;

    fn batch(dev: &Device) -> (Tensor, Tensor, Tensor) {
        let mut rng = Rng::new(5);
        let x: Vec<f32> = (0..6 * 4).map(|_| rng.normal() as f32).collect();
        let t = vec![
            0.7f32, 0.2, 0.1, 0.0, 1.0, 0.0, 0.3, 0.3, 0.4, 1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.1, 0.1,
            0.8,
        ];
        let w = vec![1.0f32, 0.5, 2.0, 0.0, 1.0, 3.0];
        (
            Tensor::from_vec(x, (6, 4), dev).unwrap(),
            Tensor::from_vec(t, (6, 3), dev).unwrap(),
            Tensor::from_vec(w, 6, dev).unwrap(),
        )
    }

    fn check_gradient(arch: Arch) {
        let dev = Device::Cpu;
        let (x, t, w) = batch(&dev);
        let head = Head::init(arch, 4, 3, 11, &dev).unwrap();
        let (_, grads) = head.loss_and_grads(&x, &t, &w).unwrap();
        // Central finite differences in f64 on every parameter entry.
        let eps = 1e-2f32;
        for (pi, g) in grads.iter().enumerate() {
            let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let base = head.params[pi]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for j in 0..base.len() {
                let loss_at = |delta: f32| {
                    let mut v = base.clone();
                    v[j] += delta;
                    let mut h = head.clone();
                    h.params[pi] = Tensor::from_vec(v, head.params[pi].dims(), &dev).unwrap();
                    h.loss_and_grads(&x, &t, &w).unwrap().0
                };
                let numeric = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps);
                assert!(
                    (numeric - g[j]).abs() < 2e-3,
                    "{arch:?} param {pi}[{j}]: numeric {numeric} analytic {}",
                    g[j]
                );
            }
        }
    }

    #[test]
    fn linear_gradient_matches_finite_differences() {
        check_gradient(Arch::Linear);
    }

    #[test]
    fn mlp_gradient_matches_finite_differences() {
        check_gradient(Arch::Mlp { hidden: 5 });
    }

    #[test]
    fn loss_of_uniform_prediction_is_log_classes() {
        // Zero weights give uniform probabilities: CE = ln(3) for any target
        // distribution.
        let dev = Device::Cpu;
        let (x, t, w) = batch(&dev);
        let zeros = vec![
            Tensor::zeros((4, 3), DType::F32, &dev).unwrap(),
            Tensor::zeros(3, DType::F32, &dev).unwrap(),
        ];
        let head = Head::from_params(Arch::Linear, 4, 3, zeros).unwrap();
        let (loss, _) = head.loss_and_grads(&x, &t, &w).unwrap();
        assert!((loss - 3f32.ln()).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn noise_is_seeded_and_set_params_checks_shapes() {
        let dev = Device::Cpu;
        let base = Head::init(Arch::Linear, 3, 2, 1, &dev).unwrap();
        let (mut a, mut b) = (base.clone(), base.clone());
        a.add_noise(5, 0.1).unwrap();
        b.add_noise(5, 0.1).unwrap();
        let flat =
            |h: &Head| -> Vec<f32> { h.params()[0].flatten_all().unwrap().to_vec1().unwrap() };
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&base));
        let wrong = vec![base.params()[1].clone(), base.params()[0].clone()];
        assert!(a.set_params(wrong).is_err());
        a.set_params(base.params().to_vec()).unwrap();
        assert_eq!(flat(&a), flat(&base));
    }

    #[test]
    fn same_seed_same_weights() {
        let dev = Device::Cpu;
        let a = Head::init(Arch::Mlp { hidden: 8 }, 4, 3, 1, &dev).unwrap();
        let b = Head::init(Arch::Mlp { hidden: 8 }, 4, 3, 1, &dev).unwrap();
        let c = Head::init(Arch::Mlp { hidden: 8 }, 4, 3, 2, &dev).unwrap();
        let flat = |h: &Head| h.params[0].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&c));
    }

    #[test]
    fn training_reduces_loss() {
        let dev = Device::Cpu;
        let (x, t, w) = batch(&dev);
        let mut head = Head::init(Arch::Mlp { hidden: 16 }, 4, 3, 3, &dev).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.05)).unwrap();
        let first = head.train_step(&mut opt, &x, &t, &w).unwrap().loss;
        let mut last = first;
        for _ in 0..100 {
            last = head.train_step(&mut opt, &x, &t, &w).unwrap().loss;
        }
        assert!(last < first * 0.8, "{first} -> {last}");
    }

    #[test]
    fn validate_batch_names_the_problem() {
        let err = validate_batch(2, 2, &[0.5, 0.5, f32::NAN, 1.0], &[1.0, 1.0]).unwrap_err();
        assert!(err.to_string().contains("targets"), "{err}");
        let err = validate_batch(2, 2, &[0.5, 0.5, 0.0, 1.0], &[0.0, 0.0]).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
        let err = validate_batch(2, 2, &[0.5, 0.5], &[1.0, 1.0]).unwrap_err();
        assert!(err.to_string().contains("expected 4"), "{err}");
    }
}
