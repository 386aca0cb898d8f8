//! RMSNorm on the CPU as one candle op with its own backward.
//!
//! As candle ops, an RMSNorm is seven passes over its input forward
//! (square, mean, add, square root, reciprocal, two products), each with a
//! fresh output, and about twice that backward; a LoRA step runs 61 of them
//! (two per block and the final one). [`RmsNormOp`] is one pass forward,
//! the frozen forward's own kernel ([`crate::frozen_ops::rms_norm`], so
//! both paths give the same bits), and one backward, [`RmsNormGrad`]:
//! with `inv = 1 / sqrt(mean(x^2) + eps)` and `g = dy * w` per row,
//! `dx = inv * g - x * inv^3 * mean(g * x)`. Rows are split across the
//! threads; each row's values depend on that row alone, so the bits do not
//! depend on the split.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_product::contiguous_f32;
use crate::frozen_ops::{dot, rms_norm};

/// Rows per task when the rows are split across threads.
const ROWS_PER_TASK: usize = 32;
/// Inputs with fewer values than this run on one thread.
const PARALLEL_MIN_VALUES: usize = 1 << 16;

/// `w * x / sqrt(mean(x^2) + eps)` over the last dimension of `x`, for `w`
/// of that width (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RmsNormOp {
    /// Added to the mean square.
    pub(crate) eps: f32,
}

/// The input gradient of [`RmsNormOp`], from `(x, w, dy)`.
#[derive(Debug, Clone, Copy)]
struct RmsNormGrad {
    eps: f32,
}

/// The width of `x`'s rows, checked against the weight `w`.
fn width(xl: &Layout, wl: &Layout) -> candle_core::Result<usize> {
    let dim = xl.dims().last().copied().unwrap_or(0);
    if wl.dims() != [dim] || dim == 0 {
        candle_core::bail!(
            "rms-norm: input {:?} against a weight of {:?}",
            xl.dims(),
            wl.dims()
        );
    }
    Ok(dim)
}

/// Runs `f` on matching blocks of rows of `out` and of each input, on
/// several threads when the input is large.
fn by_rows(
    out: &mut [f32],
    inputs: [&[f32]; 2],
    dim: usize,
    f: impl Fn(&mut [f32], [&[f32]; 2]) + Sync,
) {
    let block = dim * ROWS_PER_TASK;
    fn part(input: &[f32], i: usize, block: usize) -> &[f32] {
        &input[i * block..((i + 1) * block).min(input.len())]
    }
    if out.len() < PARALLEL_MIN_VALUES {
        f(out, inputs);
    } else {
        out.par_chunks_mut(block).enumerate().for_each(|(i, out)| {
            f(out, [part(inputs[0], i, block), part(inputs[1], i, block)]);
        });
    }
}

impl CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "w2s-rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dim = width(xl, wl)?;
        let x = contiguous_f32(xs, xl, "rms-norm's input")?;
        let w = contiguous_f32(ws, wl, "rms-norm's weight")?;
        let mut y = vec![0f32; x.len()];
        by_rows(&mut y, [x, x], dim, |y, [x, _]| rms_norm(x, w, self.eps, y));
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = x
            .track_op()
            .then(|| x.apply_op3_no_bwd(w, &dy, &RmsNormGrad { eps: self.eps }))
            .transpose()?;
        // A trained norm weight (no LoRA student has one): candle's ops.
        let dw = if w.track_op() {
            let inv = (x.sqr()?.mean_keepdim(D::Minus1)? + f64::from(self.eps))?
                .sqrt()?
                .recip()?;
            let per_row = (&dy * x.broadcast_mul(&inv)?)?;
            Some(per_row.flatten_to(D::Minus2)?.sum(0)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

impl CustomOp3 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "w2s-rms-norm-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        dys: &CpuStorage,
        dyl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dim = width(xl, wl)?;
        if dyl.dims() != xl.dims() {
            candle_core::bail!(
                "rms-norm's gradient {:?} against its input {:?}",
                dyl.dims(),
                xl.dims()
            );
        }
        let x = contiguous_f32(xs, xl, "rms-norm's input")?;
        let w = contiguous_f32(ws, wl, "rms-norm's weight")?;
        let dy = contiguous_f32(dys, dyl, "rms-norm's output gradient")?;
        let mut dx = vec![0f32; x.len()];
        let eps = self.eps;
        by_rows(&mut dx, [x, dy], dim, |dx, [x, dy]| {
            let mut g = vec![0f32; dim];
            for ((dx, x), dy) in dx
                .chunks_exact_mut(dim)
                .zip(x.chunks_exact(dim))
                .zip(dy.chunks_exact(dim))
            {
                let inv = 1.0 / (dot(x, x) / dim as f32 + eps).sqrt();
                for ((g, &d), &w) in g.iter_mut().zip(dy).zip(w) {
                    *g = d * w;
                }
                let k = inv * inv * inv * (dot(&g, x) / dim as f32);
                for ((o, &g), &x) in dx.iter_mut().zip(&g).zip(x) {
                    *o = inv * g - x * k;
                }
            }
        });
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::norm::RmsNorm;
    use crate::test_support::{max_diff, values};

    /// candle's ops, as `RmsNorm` ran them before this op.
    fn reference(x: &Tensor, w: &Tensor, eps: f64) -> Tensor {
        let inv = (x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + eps)
            .unwrap()
            .sqrt()
            .unwrap()
            .recip()
            .unwrap();
        x.broadcast_mul(&inv).unwrap().broadcast_mul(w).unwrap()
    }

    #[test]
    fn the_norm_and_its_gradients_match_candles_ops() {
        let dev = Device::Cpu;
        // Past the parallel threshold and with a partial last block.
        for (rows, dim) in [(5, 24), (1000, 96)] {
            let x = Var::from_vec(values(rows * dim, 1), (rows, dim), &dev).unwrap();
            let w = Var::from_vec(values(dim, 2), dim, &dev).unwrap();
            let dy = Tensor::from_vec(values(rows * dim, 3), (rows, dim), &dev).unwrap();
            let ours = x
                .as_tensor()
                .apply_op2(w.as_tensor(), RmsNormOp { eps: 1e-5 })
                .unwrap();
            let theirs = reference(x.as_tensor(), w.as_tensor(), 1e-5);
            assert!(max_diff(&ours, &theirs) < 1e-5, "forward");
            let grads = |y: &Tensor| {
                let g = (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
                (g.get(&x).unwrap().clone(), g.get(&w).unwrap().clone())
            };
            let (ours, theirs) = (grads(&ours), grads(&theirs));
            assert!(max_diff(&ours.0, &theirs.0) < 1e-4, "dx");
            assert!(max_diff(&ours.1, &theirs.1) < 1e-3, "dw");
        }
    }

    #[test]
    fn the_op_gives_the_frozen_kernels_bits_and_a_frozen_weight_no_gradient() {
        let dev = Device::Cpu;
        let (rows, dim) = (700, 96);
        let x = Var::from_vec(values(rows * dim, 4), (7, 100, dim), &dev).unwrap();
        let w = Tensor::from_vec(values(dim, 5), dim, &dev).unwrap();
        let norm = RmsNorm::new(w.clone(), 1e-6);
        let y = norm.forward(x.as_tensor()).unwrap();
        let mut want = vec![0f32; rows * dim];
        rms_norm(&values(rows * dim, 4), &values(dim, 5), 1e-6, &mut want);
        let got = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&w).is_none());
        assert_eq!(grads.get(&x).unwrap().dims(), &[7, 100, dim]);
    }

    #[test]
    fn operands_that_do_not_fit_or_are_not_f32_are_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(values(12, 1), (3, 4), &dev).unwrap();
        let w = Tensor::from_vec(values(5, 2), 5, &dev).unwrap();
        let err = x
            .apply_op2(&w, RmsNormOp { eps: 1e-5 })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rms-norm: input [3, 4] against a weight of [5]"),
            "{err}"
        );
        let w4 = Tensor::from_vec(values(4, 2), 4, &dev).unwrap();
        let dy = Tensor::from_vec(values(8, 3), (2, 4), &dev).unwrap();
        let err = x
            .apply_op3_no_bwd(&w4, &dy, &RmsNormGrad { eps: 1e-5 })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rms-norm's gradient [2, 4] against its input [3, 4]"),
            "{err}"
        );
        let ints = Tensor::from_vec(vec![1u32; 12], (3, 4), &dev).unwrap();
        let err = ints
            .apply_op2(&w4, RmsNormOp { eps: 1e-5 })
            .unwrap_err()
            .to_string();
        assert!(err.contains("rms-norm's input must be f32"), "{err}");
    }
}
