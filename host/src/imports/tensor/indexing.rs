//! Indexing and shape: `gather`, `index-select`, `narrow`, `transpose`,
//! `reshape`, `concat` and `detach`.

use candle_core::Tensor;
use serde_json::json;
use wasmtime::component::Resource;

use super::TensorEntry;
use super::op::{Graph, Plan, bad, check_dim, dims_of, guest_shape, same};
use crate::imports::gate::{Deadline, list};
use crate::imports::{WitResult, wit};
use crate::state::HostState;

/// Most parts one `concat` joins.
const MAX_CONCAT_PARTS: usize = 64;

const GATHER: &str = "w2s:strategy/tensor.[method]tensor.gather";
const INDEX_SELECT: &str = "w2s:strategy/tensor.[method]tensor.index-select";
const NARROW: &str = "w2s:strategy/tensor.[method]tensor.narrow";
const TRANSPOSE: &str = "w2s:strategy/tensor.[method]tensor.transpose";
const RESHAPE: &str = "w2s:strategy/tensor.[method]tensor.reshape";
const DETACH: &str = "w2s:strategy/tensor.[method]tensor.detach";
const CONCAT: &str = "w2s:strategy/tensor.[static]tensor.concat";

/// Integer indices from an f32 tensor, each in `0..bound`.
fn int_indices(t: &Tensor, bound: usize) -> Result<Vec<u32>, wit::Error> {
    let values: Vec<f32> = t
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .map_err(|_| bad("`index` cannot be read"))?;
    values
        .iter()
        .map(|&v| {
            if v.fract() == 0.0 && v >= 0.0 && (v as usize) < bound {
                Ok(v as u32)
            } else {
                Err(bad(format!(
                    "`index` value {v} is not an integer in 0..{bound}"
                )))
            }
        })
        .collect()
}

impl HostState {
    pub(super) fn gather_inner(
        &mut self,
        this: Resource<TensorEntry>,
        dim: u32,
        index: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = move |t: &Tensor, i: &Tensor| {
            let d = check_dim(t, dim, "dim")?;
            let ok = i.rank() == t.rank()
                && t.dims()
                    .iter()
                    .zip(i.dims())
                    .enumerate()
                    .all(|(k, (a, b))| k == d || a == b);
            if !ok {
                return Err(bad(format!(
                    "`index` of shape {:?} must match {:?} except along dim {dim}",
                    i.dims(),
                    t.dims()
                )));
            }
            int_indices(i, t.dims()[d])?;
            Ok(Plan {
                elems: i.elem_count(),
                flops: i.elem_count() as u64,
            })
        };
        let args = vec![("dim", json!(dim))];
        self.op2(
            GATHER,
            &this,
            &index,
            Graph::default(),
            args,
            plan,
            move |t, i| {
                let d = dim as usize;
                let ids = int_indices(i, t.dims()[d])
                    .map_err(|_| candle_core::Error::Msg("index".to_owned()))?;
                let idx = Tensor::from_vec(ids, i.dims(), t.device())?;
                t.gather(&idx, dim as usize)
            },
        )
    }

    pub(super) fn index_select_inner(
        &mut self,
        this: Resource<TensorEntry>,
        dim: u32,
        indices: Vec<u32>,
    ) -> WitResult<Resource<TensorEntry>> {
        let max = self.policy.host().max_indices_per_call as usize;
        let n = indices.len();
        let plan = |t: &Tensor| {
            let d = check_dim(t, dim, "dim")?;
            if n == 0 || n > max {
                return Err(bad(format!("`indices` must have 1..={max} values")));
            }
            let size = t.dims()[d];
            if let Some(bad_i) = indices.iter().find(|&&i| i as usize >= size) {
                return Err(bad(format!(
                    "`indices` value {bad_i} is out of range 0..{size}"
                )));
            }
            let elems = t.elem_count() / size * n;
            Ok(Plan {
                elems,
                flops: elems as u64,
            })
        };
        let args = vec![("dim", json!(dim)), ("indices", list(n))];
        let ids = indices.clone();
        self.op1(INDEX_SELECT, &this, args, plan, move |t| {
            let idx = Tensor::from_vec(ids, n, t.device())?;
            t.index_select(&idx, dim as usize)
        })
    }

    pub(super) fn narrow_inner(
        &mut self,
        this: Resource<TensorEntry>,
        dim: u32,
        start: u32,
        len: u32,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = move |t: &Tensor| {
            let d = check_dim(t, dim, "dim")?;
            let size = t.dims()[d] as u64;
            if len == 0 || u64::from(start) + u64::from(len) > size {
                return Err(bad(format!(
                    "`narrow` of {len} from {start} does not fit a dimension of {size}"
                )));
            }
            let elems = t.elem_count() / size as usize * len as usize;
            Ok(Plan {
                elems,
                flops: elems as u64,
            })
        };
        let args = vec![
            ("dim", json!(dim)),
            ("start", json!(start)),
            ("len", json!(len)),
        ];
        self.op1(NARROW, &this, args, plan, move |t| {
            t.narrow(dim as usize, start as usize, len as usize)
        })
    }

    pub(super) fn transpose_inner(
        &mut self,
        this: Resource<TensorEntry>,
        dim0: u32,
        dim1: u32,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = move |t: &Tensor| {
            check_dim(t, dim0, "dim0")?;
            check_dim(t, dim1, "dim1")?;
            same(t, 1)
        };
        let args = vec![("dim0", json!(dim0)), ("dim1", json!(dim1))];
        self.op1(TRANSPOSE, &this, args, plan, move |t| {
            t.transpose(dim0 as usize, dim1 as usize)
        })
    }

    pub(super) fn reshape_inner(
        &mut self,
        this: Resource<TensorEntry>,
        shape: Vec<u32>,
    ) -> WitResult<Resource<TensorEntry>> {
        let max = self.policy.host().tensor_bytes / 4;
        let args = vec![("shape", json!(shape))];
        let plan = |t: &Tensor| {
            let dims = guest_shape(&shape, max, "of tensor memory")?;
            if dims.iter().product::<usize>() != t.elem_count() {
                return Err(bad(format!("cannot reshape {:?} into {shape:?}", t.dims())));
            }
            same(t, 1)
        };
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        self.op1(RESHAPE, &this, args, plan, move |t| t.reshape(dims))
    }

    pub(super) fn detach_inner(
        &mut self,
        this: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let t = self.tensor(&this)?.t.clone();
        let args = || vec![("self", dims_of(&t))];
        self.audited(DETACH, Deadline::Check, args, |s| {
            s.meters.charge_flops(t.elem_count() as u64)?;
            Ok(Ok(s.push_tensor(t.detach(), 0, 0)?))
        })
    }

    pub(super) fn concat_inner(
        &mut self,
        parts: Vec<Resource<TensorEntry>>,
        dim: u32,
    ) -> WitResult<Resource<TensorEntry>> {
        let mut ts = Vec::with_capacity(parts.len().min(MAX_CONCAT_PARTS));
        let mut graph = Graph::default();
        if parts.len() <= MAX_CONCAT_PARTS {
            for p in &parts {
                let e = self.tensor(p)?;
                ts.push(e.t.clone());
                graph = graph.join(Graph::of(e));
            }
        }
        let n = parts.len();
        let args = || vec![("parts", list(n)), ("dim", json!(dim))];
        self.audited(CONCAT, Deadline::Check, args, |s| {
            if n == 0 || n > MAX_CONCAT_PARTS {
                return Ok(Err(bad(format!(
                    "`parts` must have 1..={MAX_CONCAT_PARTS} tensors"
                ))));
            }
            let d = match check_dim(&ts[0], dim, "dim") {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            let first = ts[0].dims().to_vec();
            let ok = ts.iter().all(|t| {
                t.rank() == first.len()
                    && t.dims()
                        .iter()
                        .zip(&first)
                        .enumerate()
                        .all(|(k, (a, b))| k == d || a == b)
            });
            if !ok {
                return Ok(Err(bad("`parts` must match except along `dim`")));
            }
            let elems: usize = ts.iter().map(Tensor::elem_count).sum();
            let plan = Plan {
                elems,
                flops: elems as u64,
            };
            s.finish(plan, graph, || Tensor::cat(&ts, d))
        })
    }
}
