//! The decoder's matrix products on the CPU through `w2s_gemm`, as a candle
//! op with its own backward.
//!
//! A LoRA student's step is mostly matrix products: the backbone's frozen
//! `x W^T` forward and `dy W` backward for the seven projections of every
//! block, the adapters' skinny `x A^T` and `h B^T` with gradients for both
//! operands, and attention's small batched `q k^T` and `p v`. candle runs
//! them through the `gemm` crate, which reached about a quarter of this
//! machine's FMA peak on the large ones and less on the skinny and batched
//! ones; `w2s_gemm` runs near 80% of it on one core. [`Product`] is one op
//! for all of them: `y = x W^T` ([`Form::Nt`]) or `y = x B` ([`Form::Nn`]),
//! over matching leading batch dimensions. Its backward is the same op in
//! the other forms (`Form::Tn` is `x^T y`, used only there), and it computes
//! an operand's gradient only when that operand is tracked, so a frozen
//! weight costs no `dW`.
//!
//! The bits are `w2s_gemm`'s: one fused multiply-add chain over the shared
//! dimension per value, the same at any thread count. A batch of products
//! runs one product per thread; a single product splits across the threads
//! inside `w2s_gemm`.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;
use w2s_gemm::{Lhs, Rows, gemm, gemm_bt};

/// Which product [`Product`] computes, for `x` `(..., m, k)` and the right
/// operand `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `x r`, `r` `(..., k, n)`.
    Nn,
    /// `x r^T`, `r` `(..., n, k)` (a weight stored `(out, in)`).
    Nt,
    /// `x^T r` for `x` `(..., k, m)` and `r` `(..., k, n)` (a weight's
    /// gradient; no backward of its own).
    Tn,
}

/// One (batched) matrix product on `w2s_gemm` (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Product(pub(crate) Form);

/// The product `form` names of `x` and `r`: through [`Product`] on the
/// CPU when both are `f32`, else candle's matmul (another device or dtype).
pub(crate) fn matmul(x: &Tensor, r: &Tensor, form: Form) -> candle_core::Result<Tensor> {
    let ours = x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && r.dtype() == candle_core::DType::F32;
    match form {
        _ if ours => x.contiguous()?.apply_op2(&r.contiguous()?, Product(form)),
        Form::Nn => x.matmul(r),
        Form::Nt => x.matmul(&r.t()?),
        Form::Tn => x.t()?.matmul(r),
    }
}

/// A contiguous `f32` operand's values, or which of the two it is not.
/// Shared by the crate's CPU ops (`crate::cpu_norm` too).
pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{what} must be f32");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{what} must be contiguous");
    };
    Ok(&values[start..end])
}

/// A contiguous `f32` operand's values and `(batch, rows, cols)`, the
/// batch being the product of every dimension before the last two.
fn operand<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<(&'a [f32], [usize; 3])> {
    let values = contiguous_f32(storage, layout, what)?;
    let dims = layout.shape().dims();
    if dims.len() < 2 {
        candle_core::bail!("{what} must have at least two dimensions, not {dims:?}");
    }
    let (rows, cols) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let batch = dims[..dims.len() - 2].iter().product();
    Ok((values, [batch, rows, cols]))
}

impl Form {
    /// `(m, k, n)` of the product of operands shaped `x` and `r`, or why
    /// they do not fit.
    fn sizes(self, x: [usize; 3], r: [usize; 3]) -> Option<(usize, usize, usize)> {
        let (m, k, n) = match self {
            Form::Nn => (x[1], x[2], r[2]),
            Form::Nt => (x[1], x[2], r[1]),
            Form::Tn => (x[2], x[1], r[2]),
        };
        let r_k = match self {
            Form::Nn | Form::Tn => r[1],
            Form::Nt => r[2],
        };
        (x[0] == r[0] && k == r_k && k > 0).then_some((m, k, n))
    }

    /// One product of the batch, into `c` (zeros, `m x n`).
    fn one(self, x: &[f32], r: &[f32], (m, k, n): (usize, usize, usize), c: &mut [f32], t: usize) {
        match self {
            Form::Nn => gemm(Lhs::Rows(Rows::dense(x, k)), r, n, c, t),
            Form::Nt => gemm_bt(Lhs::Rows(Rows::dense(x, k)), r, n, c, t),
            Form::Tn => gemm(Lhs::Transposed(Rows::dense(x, m)), r, n, c, t),
        }
    }
}

impl CustomOp2 for Product {
    fn name(&self) -> &'static str {
        match self.0 {
            Form::Nn => "w2s-product-nn",
            Form::Nt => "w2s-product-nt",
            Form::Tn => "w2s-product-tn",
        }
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        rs: &CpuStorage,
        rl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, xd) = operand(xs, xl, "a product's left operand")?;
        let (r, rd) = operand(rs, rl, "a product's right operand")?;
        let form = self.0;
        let Some((m, k, n)) = form.sizes(xd, rd) else {
            candle_core::bail!(
                "{}: operands {:?} and {:?} do not fit",
                self.name(),
                xl.dims(),
                rl.dims()
            );
        };
        let mut y = vec![0f32; xd[0] * m * n];
        if m * n > 0 {
            let (x_len, r_len) = (xd[1] * xd[2], rd[1] * rd[2]);
            if xd[0] == 1 {
                form.one(x, r, (m, k, n), &mut y, w2s_gemm::threads());
            } else {
                y.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
                    let (x, r) = (&x[i * x_len..][..x_len], &r[i * r_len..][..r_len]);
                    form.one(x, r, (m, k, n), c, 1);
                });
            }
        }
        let mut dims = xl.dims().to_vec();
        let last = dims.len() - 1;
        dims[last - 1] = m;
        dims[last] = n;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        r: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let grad = |want: bool, a: &Tensor, b: &Tensor, form: Form| {
            want.then(|| a.apply_op2_no_bwd(b, &Product(form)))
                .transpose()
        };
        match self.0 {
            // y = x r^T: dx = dy r, dr = dy^T x.
            Form::Nt => Ok((
                grad(x.track_op(), &dy, r, Form::Nn)?,
                grad(r.track_op(), &dy, x, Form::Tn)?,
            )),
            // y = x r: dx = dy r^T, dr = x^T dy.
            Form::Nn => Ok((
                grad(x.track_op(), &dy, r, Form::Nt)?,
                grad(r.track_op(), x, &dy, Form::Tn)?,
            )),
            Form::Tn => candle_core::bail!("{} has no backward", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::test_support::{max_diff, values};

    /// Ours and candle's matmul, forward and both gradients, for `x`
    /// `(batch.., m, k)` and `r` shaped for `form`.
    fn check(batch: &[usize], (m, k, n): (usize, usize, usize), form: Form) {
        let dev = Device::Cpu;
        let shape = |a: usize, b: usize| [batch, &[a, b]].concat();
        let r_shape = match form {
            Form::Nt => shape(n, k),
            _ => shape(k, n),
        };
        let len = |s: &[usize]| s.iter().product::<usize>();
        let x = Var::from_vec(values(len(&shape(m, k)), 1), shape(m, k), &dev).unwrap();
        let r = Var::from_vec(values(len(&r_shape), 2), r_shape, &dev).unwrap();
        let dy = Tensor::from_vec(values(len(&shape(m, n)), 3), shape(m, n), &dev).unwrap();
        let ours = matmul(x.as_tensor(), r.as_tensor(), form).unwrap();
        let rhs = match form {
            Form::Nt => r.as_tensor().t().unwrap(),
            _ => r.as_tensor().clone(),
        };
        let theirs = x.as_tensor().matmul(&rhs).unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-4, "{form:?} forward");
        let grads = |y: &Tensor| {
            let g = (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
            (g.get(&x).unwrap().clone(), g.get(&r).unwrap().clone())
        };
        let (ours, theirs) = (grads(&ours), grads(&theirs));
        assert!(max_diff(&ours.0, &theirs.0) < 1e-4, "{form:?} dx");
        assert!(max_diff(&ours.1, &theirs.1) < 1e-4, "{form:?} dr");
    }

    #[test]
    fn products_and_their_gradients_match_candle() {
        for form in [Form::Nt, Form::Nn] {
            check(&[], (37, 70, 45), form);
            check(&[], (300, 64, 32), form);
            check(&[2, 3], (19, 16, 21), form);
        }
    }

    #[test]
    fn a_frozen_operand_gets_no_gradient_and_the_batch_gives_the_same_bits() {
        let dev = Device::Cpu;
        let x = Var::from_vec(values(4 * 9 * 5, 1), (4, 9, 5), &dev).unwrap();
        let w = Tensor::from_vec(values(4 * 7 * 5, 2), (4, 7, 5), &dev).unwrap();
        let y = matmul(x.as_tensor(), &w, Form::Nt).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&w).is_none());
        assert!(grads.get(&x).is_some());
        // Each batch item alone (one product over every thread) gives the
        // bits of the batched op (one product per thread).
        for i in 0..4 {
            let one = matmul(&x.as_tensor().get(i).unwrap(), &w.get(i).unwrap(), Form::Nt).unwrap();
            let a = one.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = y
                .get(i)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(a, b, "batch item {i}");
        }
    }

    #[test]
    fn the_gradient_only_form_has_no_backward() {
        let dev = Device::Cpu;
        let x = Var::from_vec(values(4 * 3, 1), (4, 3), &dev).unwrap();
        let r = Tensor::from_vec(values(4 * 2, 2), (4, 2), &dev).unwrap();
        let y = x.as_tensor().apply_op2(&r, Product(Form::Tn)).unwrap();
        assert_eq!(y.dims(), &[3, 2]);
        let err = y.sum_all().unwrap().backward().unwrap_err().to_string();
        assert!(err.contains("w2s-product-tn has no backward"), "{err}");
    }

    #[test]
    fn operands_that_do_not_fit_are_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(values(3 * 5, 1), (3, 5), &dev).unwrap();
        let w = Tensor::from_vec(values(4 * 6, 2), (4, 6), &dev).unwrap();
        let err = matmul(&x, &w, Form::Nt).unwrap_err().to_string();
        assert!(
            err.contains("w2s-product-nt: operands [3, 5] and [4, 6] do not fit"),
            "{err}"
        );
        let err = matmul(&x, &w, Form::Nn).unwrap_err().to_string();
        assert!(err.contains("[3, 5] and [4, 6] do not fit"), "{err}");
        let b = Tensor::from_vec(values(2 * 3 * 5, 2), (2, 3, 5), &dev).unwrap();
        assert_eq!(matmul(&b, &b, Form::Nt).unwrap().dims(), &[2, 3, 3]);
        let c = Tensor::from_vec(values(3 * 3 * 5, 2), (3, 3, 5), &dev).unwrap();
        let err = matmul(&b, &c, Form::Nt).unwrap_err().to_string();
        assert!(err.contains("do not fit"), "{err}");
        let ints = Tensor::from_vec(vec![1u32; 6], (1, 6), &dev).unwrap();
        let err = ints
            .apply_op2(&w, Product(Form::Nt))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be f32"), "{err}");
        let wide = Tensor::from_vec(values(6 * 3, 2), (6, 3), &dev).unwrap();
        let err = wide
            .t()
            .unwrap()
            .apply_op2(&w, Product(Form::Nn))
            .unwrap_err()
            .to_string();
        assert!(err.contains("left operand must be contiguous"), "{err}");
        let v = Tensor::from_vec(values(5, 1), 5, &dev).unwrap();
        let err = v.apply_op2(&w, Product(Form::Nt)).unwrap_err().to_string();
        assert!(err.contains("at least two dimensions"), "{err}");
    }
}
