//! A frozen projection's product on the CPU through `w2s_gemm`, as a candle
//! op with its own backward.
//!
//! A LoRA student's step is mostly the backbone's frozen products: `x W^T`
//! forward and `dy W` backward, for the seven projections of every block.
//! candle runs them through the `gemm` crate, which reached about a quarter
//! of this machine's FMA peak, and allocates a fresh output per product;
//! `w2s_gemm` runs near 80% of it on one core. [`FrozenProduct`] is `y = x
//! W^T` for `x` `(rows, in)` and a frozen `W` `(out, in)`; its backward is
//! [`FrozenProductGrad`], `dx = dy W`, and gives `W` no gradient (the op is
//! used only when `W` is not a variable, see
//! [`crate::projection::Projection::forward_with`]).
//!
//! Both directions read `W` in its stored `(out, in)` layout: the forward
//! hands it to [`w2s_gemm::gemm_bt`] as the transpose of its right operand
//! (the AVX2 path's packing reads it in place), the backward uses it as is.
//! The bits are `w2s_gemm`'s: one fused multiply-add chain over `in` per
//! value, the same at any thread count.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use w2s_gemm::{Lhs, Rows, gemm, gemm_bt};

/// `y = x W^T` (see the module docs).
pub(crate) struct FrozenProduct;

/// `dx = dy W`, the backward of [`FrozenProduct`].
pub(crate) struct FrozenProductGrad;

/// A contiguous `f32` matrix's values and `(rows, cols)`.
fn matrix<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<(&'a [f32], usize, usize)> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{what} must be f32");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{what} must be contiguous");
    };
    let (rows, cols) = layout.shape().dims2()?;
    Ok((&values[start..end], rows, cols))
}

impl CustomOp2 for FrozenProduct {
    fn name(&self) -> &'static str {
        "w2s-frozen-product"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, rows, in_dim) = matrix(xs, xl, "the projection's input")?;
        let (w, out, w_in) = matrix(ws, wl, "the projection's weight")?;
        if in_dim != w_in || in_dim == 0 {
            candle_core::bail!("input width {in_dim} against a weight of ({out}, {w_in})");
        }
        let mut y = vec![0f32; rows * out];
        gemm_bt(
            Lhs::Rows(Rows::dense(x, in_dim)),
            w,
            out,
            &mut y,
            w2s_gemm::threads(),
        );
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        Ok((Some(dy.apply_op2_no_bwd(w, &FrozenProductGrad)?), None))
    }
}

impl CustomOp2 for FrozenProductGrad {
    fn name(&self) -> &'static str {
        "w2s-frozen-product-grad"
    }

    fn cpu_fwd(
        &self,
        dys: &CpuStorage,
        dyl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (dy, rows, out) = matrix(dys, dyl, "the projection's output gradient")?;
        let (w, w_out, in_dim) = matrix(ws, wl, "the projection's weight")?;
        if out != w_out || out == 0 {
            candle_core::bail!("gradient width {out} against a weight of ({w_out}, {in_dim})");
        }
        let mut dx = vec![0f32; rows * in_dim];
        gemm(
            Lhs::Rows(Rows::dense(dy, out)),
            w,
            in_dim,
            &mut dx,
            w2s_gemm::threads(),
        );
        Ok((CpuStorage::F32(dx), Shape::from((rows, in_dim))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn the_product_and_its_gradient_match_candle() {
        let dev = Device::Cpu;
        let (rows, in_dim, out) = (37, 70, 45);
        let x = Var::from_vec(values(rows * in_dim, 1), (rows, in_dim), &dev).unwrap();
        let w = Tensor::from_vec(values(out * in_dim, 2), (out, in_dim), &dev).unwrap();
        let dy = Tensor::from_vec(values(rows * out, 3), (rows, out), &dev).unwrap();
        let ours = x.as_tensor().apply_op2(&w, FrozenProduct).unwrap();
        let theirs = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(diff(&ours, &theirs) < 1e-4, "forward");
        let grad_of = |y: &Tensor| {
            let grads = (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
            grads.get(&x).unwrap().clone()
        };
        assert!(diff(&grad_of(&ours), &grad_of(&theirs)) < 1e-4, "backward");
    }

    #[test]
    fn a_width_that_does_not_match_the_weight_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(values(3 * 5, 1), (3, 5), &dev).unwrap();
        let w = Tensor::from_vec(values(4 * 6, 2), (4, 6), &dev).unwrap();
        let err = x.apply_op2(&w, FrozenProduct).unwrap_err().to_string();
        assert!(
            err.contains("input width 5 against a weight of (4, 6)"),
            "{err}"
        );
        let dy = Tensor::from_vec(values(3 * 5, 3), (3, 5), &dev).unwrap();
        let err = dy
            .apply_op2_no_bwd(&w, &FrozenProductGrad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gradient width 5 against a weight of (4, 6)"),
            "{err}"
        );
        let ints = Tensor::from_vec(vec![1u32; 6], (1, 6), &dev).unwrap();
        let err = ints.apply_op2(&w, FrozenProduct).unwrap_err().to_string();
        assert!(err.contains("must be f32"), "{err}");
    }
}
