//! Student heads with a fused forward and hand-written backward.
//!
//! A head is a stack of dense layers over frozen strong features. The train
//! step computes weighted soft-label cross-entropy and its gradient in one
//! pass without autograd: it is the hot path of every strategy, and candle's
//! per-op overhead (~200 ns) and graph bookkeeping would dominate a small
//! head. The gradient is checked against finite differences in the tests.
//!
//! Two implementations of the same maths, chosen by where the tensors are:
//! on the CPU, [`cpu`] runs the whole step over plain buffers with the
//! crate's own GEMM ([`crate::gemm`], bit-identical at any thread count);
//! on any other device (CUDA), the `*_on_device` methods run it as candle
//! ops (cuBLAS products and candle's kernels). The tests check that the two
//! agree to float rounding, on the CPU.

mod cpu;
mod on_device;

pub use on_device::{log_softmax_and_softmax, validate_batch};

use candle_core::{DType, Device, Tensor};

use crate::arch::Arch;
use crate::buffers::HostView;
use crate::error::{Result, TrainError};
use crate::gemm::{Rows, threads};
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

    /// The parameters as host slices, and `x`'s values, when all of them
    /// are f32 CPU tensors (the fused CPU path); `None` otherwise.
    fn on_host<'t>(&'t self, extra: &[&'t Tensor]) -> Option<HostView<'t>> {
        HostView::new(self.params.iter().chain(extra.iter().copied()))
    }

    fn cpu_params<'v>(&self, values: &[&'v [f32]]) -> cpu::Params<'v> {
        cpu::Params {
            arch: self.arch,
            classes: self.classes,
            values: values[..self.params.len()].to_vec(),
        }
    }

    /// The CPU forward: the hidden layer (MLP) and the logits.
    fn forward_on_host(&self, x: &Tensor) -> Option<cpu::Forward> {
        let view = self.on_host(&[x])?;
        let values = view.slices();
        let params = self.cpu_params(&values);
        let x = Rows::dense(values[self.params.len()], self.in_dim);
        Some(cpu::forward(&params, x, threads()))
    }

    /// Logits for a batch of features `(n, in_dim)`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        if let Some(f) = self.forward_on_host(x) {
            let n = f.logits.len() / self.classes;
            return Ok(Tensor::from_vec(f.logits, (n, self.classes), x.device())?);
        }
        let (h, _) = self.trunk(x)?;
        let (w, b) = self.last_layer();
        Self::dense(&h, w, b)
    }

    /// Class probabilities `(n, classes)`.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        if let Some(mut f) = self.forward_on_host(x) {
            cpu::softmax_rows(&mut f.logits, self.classes);
            let n = f.logits.len() / self.classes;
            return Ok(Tensor::from_vec(f.logits, (n, self.classes), x.device())?);
        }
        let (_, probs) = log_softmax_and_softmax(&self.logits(x)?)?;
        Ok(probs)
    }

    /// The representation that feeds the final layer, `(n, hidden_dim)`.
    pub fn hidden(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        if let Arch::Mlp { hidden } = self.arch
            && let Some(f) = self.forward_on_host(x)
        {
            let act = f.hidden.unwrap_or_default();
            let n = act.len() / hidden as usize;
            return Ok(Tensor::from_vec(act, (n, hidden as usize), x.device())?);
        }
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
        let Some((loss, grads)) = self.loss_and_grads_on_host(x, targets, weights) else {
            return self.loss_and_grads_on_device(x, targets, weights);
        };
        let grads = grads
            .into_iter()
            .zip(&self.params)
            .map(|(g, p)| Tensor::from_vec(g, p.dims(), p.device()))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((loss, grads))
    }

    fn loss_and_grads_on_host(
        &self,
        x: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
    ) -> Option<(f32, Vec<Vec<f32>>)> {
        let view = self.on_host(&[x, targets, weights])?;
        let values = view.slices();
        let np = self.params.len();
        let batch = cpu::Batch {
            x: Rows::dense(values[np], self.in_dim),
            targets: values[np + 1],
            weights: values[np + 2],
        };
        Some(cpu::loss_and_grads(
            &self.cpu_params(&values),
            &batch,
            threads(),
        ))
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
        self.check_input(x)?;
        if let Some((loss, grads)) = self.loss_and_grads_on_host(x, targets, weights) {
            opt.update_host(&mut self.params, &grads)?;
            return Ok(StepStats { loss });
        }
        let (loss, grads) = self.loss_and_grads_on_device(x, targets, weights)?;
        opt.update(&mut self.params, &grads)?;
        Ok(StepStats { loss })
    }

    /// One fused step on rows `indices` of `features` (`(pool, in_dim)`),
    /// with targets (`indices x classes`) and weights given as host values
    /// (validated by [`validate_batch`]). On the CPU the rows are read in
    /// place; elsewhere they are gathered on the device first. Same result
    /// as [`Head::train_step`] on the gathered rows.
    pub fn train_step_rows(
        &mut self,
        opt: &mut Optimizer,
        features: &Tensor,
        indices: &[u32],
        targets: &[f32],
        weights: &[f32],
    ) -> Result<StepStats> {
        let pool = match features.dims() {
            [pool, d] if *d == self.in_dim => *pool,
            dims => {
                return Err(TrainError::invalid(
                    "features",
                    format!("expected (pool, {}), got {dims:?}", self.in_dim),
                ));
            }
        };
        if let Some(&i) = indices.iter().find(|&&i| i as usize >= pool) {
            return Err(TrainError::invalid(
                "indices",
                format!("row {i} is past the pool of {pool} rows"),
            ));
        }
        validate_batch(indices.len(), self.classes, targets, weights)?;
        let host = self.on_host(&[features]).map(|view| {
            let values = view.slices();
            let batch = cpu::Batch {
                x: Rows::gathered(values[self.params.len()], self.in_dim, indices),
                targets,
                weights,
            };
            cpu::loss_and_grads(&self.cpu_params(&values), &batch, threads())
        });
        if let Some((loss, grads)) = host {
            opt.update_host(&mut self.params, &grads)?;
            return Ok(StepStats { loss });
        }
        let dev = features.device();
        let ix = Tensor::from_slice(indices, indices.len(), dev)?;
        // (`contiguous` is free for the task's features; candle's CPU
        // `index_select` refuses a strided view.)
        let x = features.contiguous()?.index_select(&ix, 0)?;
        let t = Tensor::from_slice(targets, (indices.len(), self.classes), dev)?;
        let w = Tensor::from_slice(weights, indices.len(), dev)?;
        let (loss, grads) = self.loss_and_grads_on_device(&x, &t, &w)?;
        opt.update(&mut self.params, &grads)?;
        Ok(StepStats { loss })
    }
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

    /// Features, soft targets and weights over `n` rows; large enough to
    /// cross the GEMM's tile edges.
    fn big_batch(n: usize, d: usize, c: usize, dev: &Device) -> (Tensor, Tensor, Tensor) {
        let mut rng = Rng::new(8);
        let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
        let t: Vec<f32> = (0..n * c).map(|_| rng.uniform() as f32).collect();
        let w: Vec<f32> = (0..n).map(|i| (i % 3) as f32 * 0.5 + 0.25).collect();
        (
            Tensor::from_vec(x, (n, d), dev).unwrap(),
            Tensor::from_vec(t, (n, c), dev).unwrap(),
            Tensor::from_vec(w, n, dev).unwrap(),
        )
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn the_cpu_path_agrees_with_the_candle_op_path() {
        // The candle-op path is what CUDA runs; here both run on the CPU.
        // They sum in different orders, so they agree to float rounding
        // (values are O(1); 1e-4 is ~1000 ulps of slack, far below any
        // real difference in the maths).
        let dev = Device::Cpu;
        let (x, t, w) = big_batch(37, 70, 3, &dev);
        for arch in [Arch::Linear, Arch::Mlp { hidden: 40 }] {
            let head = Head::init(arch, 70, 3, 4, &dev).unwrap();
            let (loss_cpu, g_cpu) = head.loss_and_grads(&x, &t, &w).unwrap();
            let (loss_dev, g_dev) = head.loss_and_grads_on_device(&x, &t, &w).unwrap();
            assert!((loss_cpu - loss_dev).abs() < 1e-5, "{arch:?} loss");
            for (a, b) in g_cpu.iter().zip(&g_dev) {
                assert!(max_abs_diff(a, b) < 1e-4, "{arch:?} gradient");
            }
            let (h, _) = head.trunk(&x).unwrap();
            let (wl, bl) = head.last_layer();
            let z = Head::dense(&h, wl, bl).unwrap();
            assert!(max_abs_diff(&head.logits(&x).unwrap(), &z) < 1e-4);
            let (_, p) = log_softmax_and_softmax(&z).unwrap();
            assert!(max_abs_diff(&head.predict(&x).unwrap(), &p) < 1e-5);
            assert!(max_abs_diff(&head.hidden(&x).unwrap(), &h) < 1e-4);
        }
    }

    #[test]
    fn train_step_rows_equals_train_step_on_the_gathered_rows() {
        let dev = Device::Cpu;
        let (features, t, w) = big_batch(50, 33, 4, &dev);
        let indices: Vec<u32> = vec![49, 3, 3, 17, 0, 22, 41, 8, 9];
        let ix = Tensor::from_slice(&indices, indices.len(), &dev).unwrap();
        let x = features.index_select(&ix, 0).unwrap();
        let tb = t.index_select(&ix, 0).unwrap();
        let wb = w.index_select(&ix, 0).unwrap();
        let th: Vec<f32> = tb.flatten_all().unwrap().to_vec1().unwrap();
        let wh: Vec<f32> = wb.to_vec1().unwrap();
        for arch in [Arch::Linear, Arch::Mlp { hidden: 20 }] {
            let mut a = Head::init(arch, 33, 4, 2, &dev).unwrap();
            let mut b = a.clone();
            let mut oa = Optimizer::new(OptimizerConfig::adamw(0.01)).unwrap();
            let mut ob = oa.clone();
            for _ in 0..3 {
                let la = a.train_step(&mut oa, &x, &tb, &wb).unwrap();
                let lb = b
                    .train_step_rows(&mut ob, &features, &indices, &th, &wh)
                    .unwrap();
                assert_eq!(la.loss.to_bits(), lb.loss.to_bits());
            }
            for (p, q) in a.params().iter().zip(b.params()) {
                assert_eq!(max_abs_diff(p, q), 0.0);
            }
            let err = b
                .train_step_rows(&mut ob, &features, &[50], &th[..4], &wh[..1])
                .unwrap_err();
            assert!(err.to_string().contains("row 50 is past the pool"), "{err}");
        }
    }

    #[test]
    fn a_strided_feature_view_takes_the_candle_op_path_and_agrees() {
        // Not contiguous: the CPU kernels decline it, the candle ops (what a
        // GPU runs) take it.
        let dev = Device::Cpu;
        let (features, _, _) = big_batch(30, 12, 3, &dev);
        let strided = features.t().unwrap().contiguous().unwrap().t().unwrap();
        assert!(!strided.is_contiguous());
        let indices = [4u32, 29, 0, 4];
        let t = [0.2f32, 0.3, 0.5].repeat(4);
        let w = [1.0f32, 2.0, 0.5, 1.0];
        let mut a = Head::init(Arch::Mlp { hidden: 9 }, 12, 3, 6, &dev).unwrap();
        let mut b = a.clone();
        let mut oa = Optimizer::new(OptimizerConfig::adamw(0.01)).unwrap();
        let mut ob = oa.clone();
        let la = a
            .train_step_rows(&mut oa, &features, &indices, &t, &w)
            .unwrap();
        let lb = b
            .train_step_rows(&mut ob, &strided, &indices, &t, &w)
            .unwrap();
        assert!((la.loss - lb.loss).abs() < 1e-6);
        for (p, q) in a.params().iter().zip(b.params()) {
            assert!(max_abs_diff(p, q) < 1e-5);
        }
    }

    #[test]
    fn the_cpu_step_has_the_same_bits_at_any_thread_count() {
        // The throughput benchmark's shapes: the two large products are
        // split across threads (above the GEMM's parallel threshold).
        let dev = Device::Cpu;
        let (x, t, w) = big_batch(256, 1024, 4, &dev);
        let head = Head::init(Arch::Mlp { hidden: 128 }, 1024, 4, 5, &dev).unwrap();
        let view = head.on_host(&[&x, &t, &w]).unwrap();
        let values = view.slices();
        let batch = cpu::Batch {
            x: Rows::dense(values[4], 1024),
            targets: values[5],
            weights: values[6],
        };
        let params = head.cpu_params(&values);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (l1, g1) = cpu::loss_and_grads(&params, &batch, 1);
        let (l2, g2) = pool.install(|| cpu::loss_and_grads(&params, &batch, 2));
        assert_eq!(l1.to_bits(), l2.to_bits());
        let bits =
            |g: &[Vec<f32>]| -> Vec<u32> { g.concat().iter().map(|v| v.to_bits()).collect() };
        assert!(
            bits(&g1) == bits(&g2),
            "gradients differ between 1 and 2 threads"
        );
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
