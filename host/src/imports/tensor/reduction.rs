//! Reductions and selections of values: `reduce` (sum, mean, max, min
//! along a dimension), `sum-all`, `mean-all`, `argmax`, `top-k` and
//! `quantile`.

use candle_core::{DType, Tensor};
use serde_json::json;
use wasmtime::component::Resource;

use super::TensorEntry;
use super::op::{Plan, bad, check_dim, dims_of, last_dim, log2_plus_one};
use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::tensor as wt;
use crate::imports::gate::Deadline;
use crate::imports::{WitResult, wit};
use crate::state::HostState;

const REDUCE: &str = "w2s:strategy/tensor.[method]tensor.reduce";
const SUM_ALL: &str = "w2s:strategy/tensor.[method]tensor.sum-all";
const MEAN_ALL: &str = "w2s:strategy/tensor.[method]tensor.mean-all";
const ARGMAX: &str = "w2s:strategy/tensor.[method]tensor.argmax";
const TOP_K: &str = "w2s:strategy/tensor.[method]tensor.top-k";
const QUANTILE: &str = "w2s:strategy/tensor.[method]tensor.quantile";

/// The plan of a reduction of `t` along `dim`: one FLOP per input value.
fn along(t: &Tensor, dim: u32) -> Result<Plan, wit::Error> {
    let d = check_dim(t, dim, "dim")?;
    Ok(Plan {
        elems: t.elem_count() / t.dims()[d],
        flops: t.elem_count() as u64,
    })
}

/// The plan of a reduction of all of `t` to a scalar.
fn to_scalar(t: &Tensor) -> Result<Plan, wit::Error> {
    Ok(Plan {
        elems: 1,
        flops: t.elem_count() as u64,
    })
}

impl HostState {
    pub(super) fn reduce_inner(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::ReduceOp,
        dim: u32,
        keepdim: bool,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("op", json!(format!("{op:?}"))), ("dim", json!(dim))];
        let plan = move |t: &Tensor| along(t, dim);
        self.op1(REDUCE, &this, args, plan, move |t| {
            let d = dim as usize;
            let r = match op {
                wt::ReduceOp::Sum => t.sum_keepdim(d),
                wt::ReduceOp::Mean => t.mean_keepdim(d),
                wt::ReduceOp::Max => t.max_keepdim(d),
                wt::ReduceOp::Min => t.min_keepdim(d),
            }?;
            if keepdim { Ok(r) } else { r.squeeze(d) }
        })
    }

    pub(super) fn sum_all_inner(
        &mut self,
        this: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.op1(SUM_ALL, &this, Vec::new(), to_scalar, |t| t.sum_all())
    }

    pub(super) fn mean_all_inner(
        &mut self,
        this: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.op1(MEAN_ALL, &this, Vec::new(), to_scalar, |t| t.mean_all())
    }

    pub(super) fn argmax_inner(
        &mut self,
        this: Resource<TensorEntry>,
        dim: u32,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = move |t: &Tensor| along(t, dim);
        let args = vec![("dim", json!(dim))];
        self.op1(ARGMAX, &this, args, plan, move |t| {
            t.detach().argmax(dim as usize)?.to_dtype(DType::F32)
        })
    }

    pub(super) fn top_k_inner(
        &mut self,
        this: Resource<TensorEntry>,
        k: u32,
    ) -> WitResult<(Resource<TensorEntry>, Resource<TensorEntry>)> {
        let t = self.tensor(&this)?.t.clone();
        let args = || vec![("self", dims_of(&t)), ("k", json!(k))];
        self.audited(TOP_K, Deadline::Check, args, |s| {
            let d = match last_dim(&t) {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            if k == 0 || k as usize > d {
                return Ok(Err(bad(format!("`k` must be in 1..={d}"))));
            }
            let n = t.elem_count();
            s.meters.charge_flops(n as u64 * log2_plus_one(d))?;
            let out = n / d * k as usize;
            // Both outputs are charged before the sort runs.
            s.meters.alloc_tensor(2 * out as u64 * 4)?;
            let sorted = t.detach().contiguous().and_then(|t| t.sort_last_dim(false));
            s.meters.free_tensor(2 * out as u64 * 4);
            let (values, indices) = sorted.map_err(|_| HostTrap::Internal { what: "top-k" })?;
            let k = k as usize;
            let last = t.rank() - 1;
            let values = values
                .narrow(last, 0, k)
                .and_then(|v| v.contiguous())
                .map_err(|_| HostTrap::Internal { what: "top-k" })?;
            let indices = indices
                .narrow(last, 0, k)
                .and_then(|v| v.to_dtype(DType::F32))
                .map_err(|_| HostTrap::Internal { what: "top-k" })?;
            let v = s.push_tensor(values, 0, 0)?;
            let i = s.push_tensor(indices, 0, 0)?;
            Ok(Ok((v, i)))
        })
    }

    pub(super) fn quantile_inner(
        &mut self,
        this: Resource<TensorEntry>,
        q: f32,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = move |t: &Tensor| {
            let d = last_dim(t)?;
            if !(0.0..=1.0).contains(&q) {
                return Err(bad("`q` must be in [0, 1]"));
            }
            Ok(Plan {
                elems: t.elem_count() / d,
                flops: t.elem_count() as u64 * log2_plus_one(d),
            })
        };
        let args = vec![("q", json!(q))];
        self.op1(QUANTILE, &this, args, plan, move |t| {
            let last = t.rank() - 1;
            let d = t.dims()[last];
            let (sorted, _) = t.detach().contiguous()?.sort_last_dim(true)?;
            // numpy's default ("linear"): position q * (d - 1).
            let pos = f64::from(q) * (d - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(d - 1);
            let frac = pos - lo as f64;
            let a = sorted.narrow(last, lo, 1)?;
            let b = sorted.narrow(last, hi, 1)?;
            let v = ((a.affine(1.0 - frac, 0.0))? + b.affine(frac, 0.0)?)?;
            v.squeeze(last)
        })
    }
}
