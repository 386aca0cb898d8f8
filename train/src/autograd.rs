//! Tracked tensors for strategies that write their own losses: a student
//! forward whose parameters are candle [`Var`]s, softmax and the losses
//! built only from candle ops that have a backward, and a backward-then-step
//! that feeds [`Optimizer::update`].
//!
//! The fused [`Head::train_step`] stays the fast path for weighted soft
//! cross-entropy; this module is the general one. Both use the same
//! optimizer code, so an autograd step on the fused loss matches the fused
//! step (checked in the tests).
//!
//! Conventions:
//! - scalars (losses, `sum_all`) are rank-0 tensors;
//! - softmax, log-softmax and the losses work over the last dimension; a
//!   loss averages over every other position (rows), so it is a scalar;
//! - losses take logits for the student side (`z`) and probabilities for
//!   the target side (`t`); `log t` is taken as `log(max(t, 1e-12))`, so a
//!   zero target contributes zero.
//!
//! candle's `softmax_last_dim` has no backward, hence the hand-built
//! versions here: max-subtract (the max is detached, softmax is
//! shift-invariant), exp, sum, log.

use candle_core::{D, Tensor, Var};

use crate::error::{Result, TrainError};
use crate::head::Head;
use crate::optim::Optimizer;

/// Smallest probability whose log is taken (see the module docs).
pub const LOG_FLOOR: f64 = 1e-12;

/// Log-softmax over the last dimension, with a backward.
pub fn log_softmax(z: &Tensor) -> Result<Tensor> {
    let max = z.max_keepdim(D::Minus1)?.detach();
    let shifted = z.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Softmax over the last dimension, with a backward.
pub fn softmax(z: &Tensor) -> Result<Tensor> {
    Ok(log_softmax(z)?.exp()?)
}

/// Mean over rows of `-sum_c t_c log softmax(z)_c`.
pub fn soft_cross_entropy(z: &Tensor, t: &Tensor) -> Result<Tensor> {
    same_shape(z, t)?;
    let ce = (t * log_softmax(z)?)?.sum(D::Minus1)?.neg()?;
    Ok(ce.mean_all()?)
}

/// Mean over rows of `KL(t || softmax(z)) = sum_c t_c (log t_c - log p_c)`.
pub fn kl_divergence(t: &Tensor, z: &Tensor) -> Result<Tensor> {
    same_shape(z, t)?;
    let log_t = t.clamp(LOG_FLOOR, f64::INFINITY)?.log()?;
    let kl = (t * (log_t - log_softmax(z)?)?)?.sum(D::Minus1)?;
    Ok(kl.mean_all()?)
}

/// Mean over rows of `KL(softmax(z) || t) = sum_c p_c (log p_c - log t_c)`.
pub fn reverse_kl_divergence(z: &Tensor, t: &Tensor) -> Result<Tensor> {
    same_shape(z, t)?;
    let logp = log_softmax(z)?;
    let log_t = t.clamp(LOG_FLOOR, f64::INFINITY)?.log()?;
    let kl = (logp.exp()? * (logp - log_t)?)?.sum(D::Minus1)?;
    Ok(kl.mean_all()?)
}

/// Mean over rows of the entropy of `softmax(z)`.
pub fn entropy(z: &Tensor) -> Result<Tensor> {
    let logp = log_softmax(z)?;
    let h = (logp.exp()? * logp)?.sum(D::Minus1)?.neg()?;
    Ok(h.mean_all()?)
}

fn same_shape(a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(TrainError::invalid(
            "targets",
            format!("shape {:?} differs from {:?}", b.dims(), a.dims()),
        ));
    }
    if a.rank() == 0 {
        return Err(TrainError::invalid("logits", "need at least one dimension"));
    }
    Ok(())
}

/// The parameters of `head` as fresh variables, in [`Head::params`] order.
pub fn vars_of(head: &Head) -> Result<Vec<Var>> {
    Ok(head
        .params()
        .iter()
        .map(Var::from_tensor)
        .collect::<candle_core::Result<_>>()?)
}

/// Tracked logits `(n, classes)` and hidden representation `(n, hidden)`
/// of `head` on features `x`, computed from `vars` (see [`vars_of`]).
pub fn forward(head: &Head, vars: &[Var], x: &Tensor) -> Result<(Tensor, Tensor)> {
    if x.rank() != 2 || x.dims()[1] != head.in_dim() {
        return Err(TrainError::invalid("features", "wrong width"));
    }
    if vars.len() != head.params().len() {
        return Err(TrainError::OptimizerMismatch);
    }
    let dense = |h: &Tensor, w: &Var, b: &Var| -> candle_core::Result<Tensor> {
        h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())
    };
    let hidden = match vars.len() {
        2 => x.clone(),
        _ => dense(x, &vars[0], &vars[1])?.relu()?,
    };
    let n = vars.len();
    let logits = dense(&hidden, &vars[n - 2], &vars[n - 1])?;
    Ok((logits, hidden))
}

/// Backward from the scalar `loss` to `vars`, then one update of `head`'s
/// parameters with `opt`. A parameter the loss does not reach gets a zero
/// gradient; a loss that reaches none of them is an error (it was not built
/// from this forward).
pub fn backward_step(
    head: &mut Head,
    vars: &[Var],
    loss: &Tensor,
    opt: &mut Optimizer,
) -> Result<()> {
    if loss.elem_count() != 1 {
        return Err(TrainError::invalid("loss", "must be a scalar"));
    }
    let grads = loss.backward()?;
    let mut reached = false;
    let mut out = Vec::with_capacity(vars.len());
    for v in vars {
        match grads.get(v.as_tensor()) {
            Some(g) => {
                reached = true;
                out.push(g.clone());
            }
            None => out.push(v.as_tensor().zeros_like()?),
        }
    }
    if !reached {
        return Err(TrainError::invalid(
            "loss",
            "does not depend on this student's current parameters",
        ));
    }
    head.apply_gradients(opt, &out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::optim::OptimizerConfig;
    use candle_core::Device;

    fn z() -> Tensor {
        let v: Vec<f32> = (0..12).map(|i| ((i as f32) * 0.7).sin() * 2.0).collect();
        Tensor::from_vec(v, (3, 4), &Device::Cpu).unwrap()
    }

    fn t() -> Tensor {
        let rows = [
            [0.7f32, 0.1, 0.1, 0.1],
            [0.0, 0.5, 0.5, 0.0],
            [0.25, 0.25, 0.25, 0.25],
        ];
        let v: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(v, (3, 4), &Device::Cpu).unwrap()
    }

    /// Checks the autograd gradient of `f` at `z()` against central finite
    /// differences (step 1e-2 in f32; tolerance 2e-3, the usual f32 check).
    fn check(f: impl Fn(&Tensor) -> Tensor) {
        let var = Var::from_tensor(&z()).unwrap();
        let g = f(var.as_tensor()).backward().unwrap();
        let g: Vec<f32> = g
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let base: Vec<f32> = z().flatten_all().unwrap().to_vec1().unwrap();
        let eps = 1e-2f32;
        for i in 0..base.len() {
            let at = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                let x = Tensor::from_vec(v, (3, 4), &Device::Cpu).unwrap();
                f(&x).to_scalar::<f32>().unwrap()
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 2e-3, "index {i}: fd {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn log_softmax_matches_the_fused_one() {
        let (want, p) = crate::head::log_softmax_and_softmax(&z()).unwrap();
        let got = log_softmax(&z()).unwrap();
        let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6);
        let d = (softmax(&z()).unwrap() - p).unwrap().abs().unwrap();
        assert!(d.max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-6);
    }

    #[test]
    fn softmax_gradients_match_finite_differences() {
        // A fixed weighting makes the vector outputs scalar.
        let w = t();
        check(|x| (softmax(x).unwrap() * &w).unwrap().sum_all().unwrap());
        check(|x| (log_softmax(x).unwrap() * &w).unwrap().sum_all().unwrap());
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        check(|x| soft_cross_entropy(x, &t()).unwrap());
        check(|x| kl_divergence(&t(), x).unwrap());
        check(|x| reverse_kl_divergence(x, &t()).unwrap());
        check(|x| entropy(x).unwrap());
    }

    #[test]
    fn losses_of_known_values() {
        // Uniform logits over 4 classes: CE = log 4 for any distribution,
        // entropy = log 4, KL(t||u) = log 4 - H(t).
        let u = Tensor::zeros((1, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let t = Tensor::from_vec(vec![0.5f32, 0.5, 0.0, 0.0], (1, 4), &Device::Cpu).unwrap();
        let s = |x: Tensor| x.to_scalar::<f32>().unwrap();
        let ln4 = 4f32.ln();
        assert!((s(soft_cross_entropy(&u, &t).unwrap()) - ln4).abs() < 1e-6);
        assert!((s(entropy(&u).unwrap()) - ln4).abs() < 1e-6);
        let kl = s(kl_divergence(&t, &u).unwrap());
        assert!((kl - (ln4 - 2f32.ln())).abs() < 1e-6);
        assert!(
            s(reverse_kl_divergence(&u, &u.exp().unwrap().affine(0.25, 0.0).unwrap()).unwrap())
                .abs()
                < 1e-6
        );
        assert!(soft_cross_entropy(&u, &z()).is_err());
    }

    /// The strong check: an autograd step on the fused loss (weighted soft
    /// CE) moves the parameters exactly as the fused, hand-derived step.
    fn autograd_step_matches_fused(arch: Arch) {
        let dev = Device::Cpu;
        let xv: Vec<f32> = (0..5 * 6).map(|i| ((i as f32) * 0.31).cos()).collect();
        let x = Tensor::from_vec(xv, (5, 6), &dev).unwrap();
        let tv: Vec<f32> = (0..5 * 3).map(|i| ((i * 7) % 5) as f32 + 0.5).collect();
        let t = Tensor::from_vec(tv, (5, 3), &dev).unwrap();
        let t = t.broadcast_div(&t.sum_keepdim(1).unwrap()).unwrap();
        let w = Tensor::from_vec(vec![1.0f32, 0.5, 2.0, 0.0, 1.5], 5, &dev).unwrap();
        let mut fused = Head::init(arch, 6, 3, 9, &dev).unwrap();
        let mut tracked = fused.clone();
        let mut o1 = Optimizer::new(OptimizerConfig::adamw(0.05)).unwrap();
        let mut o2 = Optimizer::new(OptimizerConfig::adamw(0.05)).unwrap();
        for _ in 0..3 {
            fused.train_step(&mut o1, &x, &t, &w).unwrap();
            let vars = vars_of(&tracked).unwrap();
            let (logits, _) = forward(&tracked, &vars, &x).unwrap();
            let ce = (&t * log_softmax(&logits).unwrap())
                .unwrap()
                .sum(1)
                .unwrap()
                .neg()
                .unwrap();
            let total = w.sum_all().unwrap().to_scalar::<f32>().unwrap();
            let loss = ((ce * &w).unwrap().sum_all().unwrap() / f64::from(total)).unwrap();
            backward_step(&mut tracked, &vars, &loss, &mut o2).unwrap();
        }
        for (a, b) in fused.params().iter().zip(tracked.params()) {
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
        }
    }

    #[test]
    fn autograd_step_equals_fused_step_linear() {
        autograd_step_matches_fused(Arch::Linear);
    }

    #[test]
    fn autograd_step_equals_fused_step_mlp() {
        autograd_step_matches_fused(Arch::Mlp { hidden: 7 });
    }

    #[test]
    fn a_loss_from_another_forward_is_refused() {
        let dev = Device::Cpu;
        let mut head = Head::init(Arch::Linear, 2, 2, 1, &dev).unwrap();
        let vars = vars_of(&head).unwrap();
        let other = vars_of(&head).unwrap();
        let x = Tensor::ones((1, 2), candle_core::DType::F32, &dev).unwrap();
        let (z, _) = forward(&head, &other, &x).unwrap();
        let loss = entropy(&z).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.1)).unwrap();
        assert!(backward_step(&mut head, &vars, &loss, &mut opt).is_err());
    }
}
