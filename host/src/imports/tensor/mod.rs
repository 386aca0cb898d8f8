//! `w2s:strategy/tensor`: host tensors with autograd.
//!
//! Every operation follows the same order: look up the inputs, validate
//! shapes and arguments (an expected failure is an `invalid-argument`
//! error), work out the exact output size, charge compute, one handle per
//! output and its bytes of tensor memory (a broken limit traps), and only
//! then run the candle op. The bytes are released when the guest drops the
//! handle.
//!
//! FLOP estimates (documented in the WIT): one per output value for
//! elementwise and shape ops, one per input value for reductions, `2*m*k*n`
//! for a matmul, 5 per value for softmax, 10 per value for a loss, and
//! `n * (log2(d) + 1)` for sorts (top-k, quantile). Each tensor also
//! carries the FLOPs of the graph that made it (an upper bound: shared
//! subgraphs count once per use); `backward-step` charges twice that.
//!
//! Tensor memory: an untracked tensor is charged its own values. A tracked
//! one (built from a student's `forward`) keeps its whole autograd graph
//! alive, inputs included, whether or not the guest still holds their
//! handles; it is charged its own values plus the charges of its inputs.
//! That over-counts shared subgraphs (a graph that reuses a tensor many
//! times reaches the limit early) but never under-counts, so dropping
//! intermediate handles cannot grow host memory past the meter.

use candle_core::{DType, Shape, Tensor};
use serde_json::json;
use w2s_train::autograd;
use wasmtime::component::Resource;

use crate::audit::{Args, Deadline, list};
use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::tensor as wt;
use crate::imports::{WitResult, refusal, wit};
use crate::state::{HostState, Live};

/// Largest rank of a tensor.
const MAX_RANK: usize = 4;
/// Most parts one `concat` joins.
const MAX_CONCAT_PARTS: usize = 64;

/// A tensor in the resource table. `pub` only because the generated
/// bindings re-export it; the module is private.
#[allow(unreachable_pub)]
pub struct TensorEntry {
    pub(crate) t: Tensor,
    /// Tensor memory charged: the values, plus the inputs' charges when
    /// tracked (see the module docs).
    pub(crate) bytes: u64,
    /// FLOPs of the graph that made it (see the module docs).
    pub(crate) graph_flops: u64,
    _live: Live,
}

fn bad(message: impl Into<String>) -> wit::Error {
    refusal(wit::ErrorCode::InvalidArgument, message)
}

fn dims_of(t: &Tensor) -> Value {
    json!(t.dims())
}

type Value = serde_json::Value;

fn log2_plus_one(d: usize) -> u64 {
    u64::from(usize::BITS - d.leading_zeros()) + 1
}

/// A shape from the guest: at most [`MAX_RANK`] dimensions, none zero,
/// with at most `max` elements (`limit` names that bound).
fn guest_shape(shape: &[u32], max: u64, limit: &str) -> Result<Vec<usize>, wit::Error> {
    if shape.len() > MAX_RANK {
        return Err(bad(format!(
            "`shape` has {} dimensions, over the limit of {MAX_RANK}",
            shape.len()
        )));
    }
    if shape.contains(&0) {
        return Err(bad("`shape` has a zero dimension"));
    }
    let n = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
    match n {
        Some(n) if n <= max => Ok(shape.iter().map(|&d| d as usize).collect()),
        _ => Err(bad(format!(
            "`shape` has more than {max} elements, the limit {limit}"
        ))),
    }
}

fn check_dim(t: &Tensor, dim: u32, what: &str) -> Result<usize, wit::Error> {
    let d = dim as usize;
    if d >= t.rank() {
        return Err(bad(format!(
            "`{what}` {dim} is out of range for a tensor of rank {}",
            t.rank()
        )));
    }
    Ok(d)
}

fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, wit::Error> {
    a.broadcast_shape_binary_op(b, "broadcast").map_err(|_| {
        bad(format!(
            "shapes {:?} and {:?} do not broadcast",
            a.dims(),
            b.dims()
        ))
    })
}

/// What an input brings to a result's graph: its FLOPs and its charged
/// bytes (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Graph {
    flops: u64,
    bytes: u64,
}

impl Graph {
    fn of(e: &TensorEntry) -> Self {
        Self {
            flops: e.graph_flops,
            bytes: e.bytes,
        }
    }

    fn join(self, other: Self) -> Self {
        Self {
            flops: self.flops.saturating_add(other.flops),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// The planned output of an op: its element count and its FLOPs.
struct Plan {
    elems: usize,
    flops: u64,
}

impl HostState {
    pub(crate) fn tensor(&self, r: &Resource<TensorEntry>) -> wasmtime::Result<&TensorEntry> {
        Ok(self.table.get(r)?)
    }

    /// Charges a handle and tensor memory (its values, plus `graph_bytes`
    /// when `t` is tracked), then registers `t`.
    pub(crate) fn push_tensor(
        &mut self,
        t: Tensor,
        graph_flops: u64,
        graph_bytes: u64,
    ) -> wasmtime::Result<Resource<TensorEntry>> {
        let own = t.elem_count() as u64 * 4;
        let bytes = if t.track_op() {
            own.saturating_add(graph_bytes)
        } else {
            own
        };
        self.meters.open_handle()?;
        self.meters.alloc_tensor(bytes)?;
        let _live = self.live.guard();
        Ok(self.table.push(TensorEntry {
            t,
            bytes,
            graph_flops,
            _live,
        })?)
    }

    /// Charges `plan` (compute, then one handle and its memory) before
    /// running `run`; a candle failure after validation is internal.
    fn finish(
        &mut self,
        plan: Plan,
        inputs: Graph,
        run: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.meters.charge_flops(plan.flops)?;
        self.meters.open_handle()?;
        let bytes = (plan.elems as u64 * 4).saturating_add(inputs.bytes);
        self.meters.alloc_tensor(bytes)?;
        let result = run().and_then(|t| t.contiguous());
        self.meters.free_tensor(bytes);
        self.meters.close_handle();
        // Validation comes first, so a failure here is a case it missed:
        // still the guest's argument, never a host panic.
        let t = match result {
            Ok(t) if t.elem_count() == plan.elems => t,
            Ok(_) => return Err(HostTrap::Internal { what: "tensor" }.into()),
            Err(_) => return Ok(Err(bad("the operation does not apply to these shapes"))),
        };
        let flops = inputs.flops.saturating_add(plan.flops);
        Ok(Ok(self.push_tensor(t, flops, inputs.bytes)?))
    }

    /// An op on one tensor: `plan` validates and sizes it, `run` does it.
    fn op1(
        &mut self,
        call: &'static str,
        this: &Resource<TensorEntry>,
        args: Args,
        plan: impl FnOnce(&Tensor) -> Result<Plan, wit::Error>,
        run: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>,
    ) -> WitResult<Resource<TensorEntry>> {
        let (t, g) = {
            let e = self.tensor(this)?;
            (e.t.clone(), Graph::of(e))
        };
        let mut args = args;
        args.push(("self", dims_of(&t)));
        self.audited(
            call,
            Deadline::Check,
            || args,
            |s| match plan(&t) {
                Err(e) => Ok(Err(e)),
                Ok(p) => s.finish(p, g, || run(&t)),
            },
        )
    }

    /// An op on two tensors (and `extra`, the graph of a third input).
    #[allow(clippy::too_many_arguments)]
    fn op2(
        &mut self,
        call: &'static str,
        a: &Resource<TensorEntry>,
        b: &Resource<TensorEntry>,
        extra: Graph,
        args: Args,
        plan: impl FnOnce(&Tensor, &Tensor) -> Result<Plan, wit::Error>,
        run: impl FnOnce(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    ) -> WitResult<Resource<TensorEntry>> {
        let (ta, ga) = {
            let e = self.tensor(a)?;
            (e.t.clone(), Graph::of(e))
        };
        let (tb, gb) = {
            let e = self.tensor(b)?;
            (e.t.clone(), Graph::of(e))
        };
        let mut args = args;
        args.push(("self", dims_of(&ta)));
        args.push(("other", dims_of(&tb)));
        self.audited(
            call,
            Deadline::Check,
            || args,
            |s| match plan(&ta, &tb) {
                Err(e) => Ok(Err(e)),
                Ok(p) => s.finish(p, ga.join(gb).join(extra), || run(&ta, &tb)),
            },
        )
    }

    fn loss(
        &mut self,
        call: &'static str,
        a: &Resource<TensorEntry>,
        b: &Resource<TensorEntry>,
        f: fn(&Tensor, &Tensor) -> w2s_train::Result<Tensor>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |x: &Tensor, y: &Tensor| {
            if x.dims() != y.dims() || x.rank() == 0 {
                return Err(bad(format!(
                    "shapes {:?} and {:?} must be equal, of rank >= 1",
                    x.dims(),
                    y.dims()
                )));
            }
            Ok(Plan {
                elems: 1,
                flops: 10 * x.elem_count() as u64,
            })
        };
        self.op2(call, a, b, Graph::default(), Vec::new(), plan, |x, y| {
            f(x, y).map_err(|e| candle_core::Error::Msg(e.to_string()))
        })
    }
}

fn same(t: &Tensor, flops_per: u64) -> Result<Plan, wit::Error> {
    Ok(Plan {
        elems: t.elem_count(),
        flops: flops_per * t.elem_count() as u64,
    })
}

fn last_dim(t: &Tensor) -> Result<usize, wit::Error> {
    if t.rank() == 0 {
        return Err(bad("needs a tensor of rank >= 1"));
    }
    Ok(t.dims()[t.rank() - 1])
}

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

const FROM_LIST: &str = "w2s:strategy/tensor.[static]tensor.from-list";
const FULL: &str = "w2s:strategy/tensor.[static]tensor.full";
const SHAPE: &str = "w2s:strategy/tensor.[method]tensor.shape";
const TO_LIST: &str = "w2s:strategy/tensor.[method]tensor.to-list";
const MATMUL: &str = "w2s:strategy/tensor.[method]tensor.matmul";
const BINARY: &str = "w2s:strategy/tensor.[method]tensor.binary";
const UNARY: &str = "w2s:strategy/tensor.[method]tensor.unary";
const AFFINE: &str = "w2s:strategy/tensor.[method]tensor.affine";
const CLAMP: &str = "w2s:strategy/tensor.[method]tensor.clamp";
const SOFTMAX: &str = "w2s:strategy/tensor.[method]tensor.softmax";
const LOG_SOFTMAX: &str = "w2s:strategy/tensor.[method]tensor.log-softmax";
const REDUCE: &str = "w2s:strategy/tensor.[method]tensor.reduce";
const SUM_ALL: &str = "w2s:strategy/tensor.[method]tensor.sum-all";
const MEAN_ALL: &str = "w2s:strategy/tensor.[method]tensor.mean-all";
const ARGMAX: &str = "w2s:strategy/tensor.[method]tensor.argmax";
const TOP_K: &str = "w2s:strategy/tensor.[method]tensor.top-k";
const QUANTILE: &str = "w2s:strategy/tensor.[method]tensor.quantile";
const GATHER: &str = "w2s:strategy/tensor.[method]tensor.gather";
const INDEX_SELECT: &str = "w2s:strategy/tensor.[method]tensor.index-select";
const NARROW: &str = "w2s:strategy/tensor.[method]tensor.narrow";
const TRANSPOSE: &str = "w2s:strategy/tensor.[method]tensor.transpose";
const RESHAPE: &str = "w2s:strategy/tensor.[method]tensor.reshape";
const DETACH: &str = "w2s:strategy/tensor.[method]tensor.detach";
const COMPARE: &str = "w2s:strategy/tensor.[method]tensor.compare";
const SELECT: &str = "w2s:strategy/tensor.[method]tensor.select";
const CONCAT: &str = "w2s:strategy/tensor.[static]tensor.concat";
const DROP: &str = "w2s:strategy/tensor.[resource-drop]tensor";
const SOFT_CE: &str = "w2s:strategy/tensor.soft-cross-entropy";
const KL: &str = "w2s:strategy/tensor.kl-divergence";
const REVERSE_KL: &str = "w2s:strategy/tensor.reverse-kl-divergence";
const ENTROPY: &str = "w2s:strategy/tensor.entropy";

impl wt::Host for HostState {
    fn soft_cross_entropy(
        &mut self,
        logits: Resource<TensorEntry>,
        targets: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.loss(SOFT_CE, &logits, &targets, autograd::soft_cross_entropy)
    }

    fn kl_divergence(
        &mut self,
        targets: Resource<TensorEntry>,
        logits: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.loss(KL, &targets, &logits, autograd::kl_divergence)
    }

    fn reverse_kl_divergence(
        &mut self,
        logits: Resource<TensorEntry>,
        targets: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.loss(
            REVERSE_KL,
            &logits,
            &targets,
            autograd::reverse_kl_divergence,
        )
    }

    fn entropy(&mut self, logits: Resource<TensorEntry>) -> WitResult<Resource<TensorEntry>> {
        let plan = |x: &Tensor| {
            last_dim(x)?;
            Ok(Plan {
                elems: 1,
                flops: 10 * x.elem_count() as u64,
            })
        };
        self.op1(ENTROPY, &logits, Vec::new(), plan, |x| {
            autograd::entropy(x).map_err(|e| candle_core::Error::Msg(e.to_string()))
        })
    }
}

impl wt::HostTensor for HostState {
    fn from_list(&mut self, values: Vec<f32>, shape: Vec<u32>) -> WitResult<Resource<TensorEntry>> {
        let n = values.len();
        let shape_arg = json!(shape);
        let args = || vec![("values", list(n)), ("shape", shape_arg)];
        self.audited(FROM_LIST, Deadline::Check, args, |s| {
            let max = s.policy.host().max_elements_per_call;
            let dims = match guest_shape(&shape, max, "per call") {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            if dims.iter().product::<usize>() != n {
                return Ok(Err(bad(format!(
                    "`values` has {n} values, the shape {shape:?} needs {}",
                    dims.iter().product::<usize>()
                ))));
            }
            let plan = Plan {
                elems: n,
                flops: n as u64,
            };
            let device = s.task.features.device().clone();
            s.finish(plan, Graph::default(), || {
                Tensor::from_vec(values, dims, &device)
            })
        })
    }

    fn full(&mut self, value: f32, shape: Vec<u32>) -> WitResult<Resource<TensorEntry>> {
        let args = || vec![("shape", json!(shape))];
        self.audited(FULL, Deadline::Check, args, |s| {
            let max = s.policy.host().tensor_bytes / 4;
            let dims = match guest_shape(&shape, max, "of tensor memory") {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            let n = dims.iter().product::<usize>();
            let plan = Plan {
                elems: n,
                flops: n as u64,
            };
            let device = s.task.features.device().clone();
            s.finish(plan, Graph::default(), || {
                Tensor::full(value, dims, &device)
            })
        })
    }

    fn shape(&mut self, this: Resource<TensorEntry>) -> wasmtime::Result<Vec<u32>> {
        self.audited(SHAPE, Deadline::Check, Vec::new, |s| {
            let t = &s.tensor(&this)?.t;
            Ok(t.dims().iter().map(|&d| d as u32).collect())
        })
    }

    fn to_list(&mut self, this: Resource<TensorEntry>) -> WitResult<Vec<f32>> {
        self.audited(TO_LIST, Deadline::Check, Vec::new, |s| {
            let t = s.tensor(&this)?.t.clone();
            if let Err(e) = s.check_elements("tensor", t.elem_count(), 1) {
                return Ok(Err(e));
            }
            s.meters.charge_flops(t.elem_count() as u64)?;
            let v = t
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|_| HostTrap::Internal { what: "to-list" })?;
            Ok(Ok(v))
        })
    }

    fn matmul(
        &mut self,
        this: Resource<TensorEntry>,
        other: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |a: &Tensor, b: &Tensor| match (a.dims(), b.dims()) {
            ([m, k], [k2, n]) if k == k2 => Ok(Plan {
                elems: m * n,
                flops: 2 * (*m as u64) * (*k as u64) * (*n as u64),
            }),
            (x, y) => Err(bad(format!(
                "matmul needs (m, k) x (k, n), got {x:?} x {y:?}"
            ))),
        };
        self.op2(
            MATMUL,
            &this,
            &other,
            Graph::default(),
            Vec::new(),
            plan,
            |a, b| a.matmul(b),
        )
    }

    fn binary(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::BinaryOp,
        other: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |a: &Tensor, b: &Tensor| {
            let shape = broadcast(a.shape(), b.shape())?;
            Ok(Plan {
                elems: shape.elem_count(),
                flops: shape.elem_count() as u64,
            })
        };
        let args = vec![("op", json!(format!("{op:?}")))];
        self.op2(
            BINARY,
            &this,
            &other,
            Graph::default(),
            args,
            plan,
            move |a, b| match op {
                wt::BinaryOp::Add => a.broadcast_add(b),
                wt::BinaryOp::Sub => a.broadcast_sub(b),
                wt::BinaryOp::Mul => a.broadcast_mul(b),
                wt::BinaryOp::Div => a.broadcast_div(b),
                wt::BinaryOp::Maximum => a.broadcast_maximum(b),
                wt::BinaryOp::Minimum => a.broadcast_minimum(b),
            },
        )
    }

    fn unary(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::UnaryOp,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("op", json!(format!("{op:?}")))];
        self.op1(
            UNARY,
            &this,
            args,
            |t| same(t, 2),
            move |t| match op {
                wt::UnaryOp::Exp => t.exp(),
                wt::UnaryOp::Log => t.log(),
                wt::UnaryOp::Relu => t.relu(),
                // 1 / (1 + exp(-x)), from ops that all have a backward.
                wt::UnaryOp::Sigmoid => (t.neg()?.exp()? + 1.0)?.recip(),
                wt::UnaryOp::Tanh => t.tanh(),
                wt::UnaryOp::Neg => t.neg(),
                wt::UnaryOp::Abs => t.abs(),
                wt::UnaryOp::Sqrt => t.sqrt(),
                wt::UnaryOp::Square => t.sqr(),
            },
        )
    }

    fn affine(
        &mut self,
        this: Resource<TensorEntry>,
        mul: f32,
        add: f32,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("mul", json!(mul)), ("add", json!(add))];
        self.op1(
            AFFINE,
            &this,
            args,
            |t| same(t, 2),
            move |t| t.affine(f64::from(mul), f64::from(add)),
        )
    }

    fn clamp(
        &mut self,
        this: Resource<TensorEntry>,
        min: f32,
        max: f32,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("min", json!(min)), ("max", json!(max))];
        let plan = move |t: &Tensor| {
            // NaN bounds are refused too.
            if min.is_nan() || max.is_nan() || min > max {
                return Err(bad("`clamp` needs min <= max"));
            }
            same(t, 2)
        };
        self.op1(CLAMP, &this, args, plan, move |t| {
            t.clamp(f64::from(min), f64::from(max))
        })
    }

    fn softmax(&mut self, this: Resource<TensorEntry>) -> WitResult<Resource<TensorEntry>> {
        let plan = |t: &Tensor| {
            last_dim(t)?;
            same(t, 5)
        };
        self.op1(SOFTMAX, &this, Vec::new(), plan, |t| {
            autograd::softmax(t).map_err(|e| candle_core::Error::Msg(e.to_string()))
        })
    }

    fn log_softmax(&mut self, this: Resource<TensorEntry>) -> WitResult<Resource<TensorEntry>> {
        let plan = |t: &Tensor| {
            last_dim(t)?;
            same(t, 5)
        };
        self.op1(LOG_SOFTMAX, &this, Vec::new(), plan, |t| {
            autograd::log_softmax(t).map_err(|e| candle_core::Error::Msg(e.to_string()))
        })
    }

    fn reduce(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::ReduceOp,
        dim: u32,
        keepdim: bool,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("op", json!(format!("{op:?}"))), ("dim", json!(dim))];
        let plan = move |t: &Tensor| {
            let d = check_dim(t, dim, "dim")?;
            Ok(Plan {
                elems: t.elem_count() / t.dims()[d],
                flops: t.elem_count() as u64,
            })
        };
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

    fn sum_all(&mut self, this: Resource<TensorEntry>) -> WitResult<Resource<TensorEntry>> {
        let plan = |t: &Tensor| {
            Ok(Plan {
                elems: 1,
                flops: t.elem_count() as u64,
            })
        };
        self.op1(SUM_ALL, &this, Vec::new(), plan, |t| t.sum_all())
    }

    fn mean_all(&mut self, this: Resource<TensorEntry>) -> WitResult<Resource<TensorEntry>> {
        let plan = |t: &Tensor| {
            Ok(Plan {
                elems: 1,
                flops: t.elem_count() as u64,
            })
        };
        self.op1(MEAN_ALL, &this, Vec::new(), plan, |t| t.mean_all())
    }

    fn argmax(
        &mut self,
        this: Resource<TensorEntry>,
        dim: u32,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = move |t: &Tensor| {
            let d = check_dim(t, dim, "dim")?;
            Ok(Plan {
                elems: t.elem_count() / t.dims()[d],
                flops: t.elem_count() as u64,
            })
        };
        let args = vec![("dim", json!(dim))];
        self.op1(ARGMAX, &this, args, plan, move |t| {
            t.detach().argmax(dim as usize)?.to_dtype(DType::F32)
        })
    }

    fn top_k(
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

    fn quantile(
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

    fn gather(
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

    fn index_select(
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

    fn narrow(
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

    fn transpose(
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

    fn reshape(
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

    fn detach(&mut self, this: Resource<TensorEntry>) -> WitResult<Resource<TensorEntry>> {
        let t = self.tensor(&this)?.t.clone();
        let args = || vec![("self", dims_of(&t))];
        self.audited(DETACH, Deadline::Check, args, |s| {
            s.meters.charge_flops(t.elem_count() as u64)?;
            Ok(Ok(s.push_tensor(t.detach(), 0, 0)?))
        })
    }

    fn compare(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::CompareOp,
        other: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |a: &Tensor, b: &Tensor| {
            let shape = broadcast(a.shape(), b.shape())?;
            Ok(Plan {
                elems: shape.elem_count(),
                flops: shape.elem_count() as u64,
            })
        };
        let args = vec![("op", json!(format!("{op:?}")))];
        self.op2(
            COMPARE,
            &this,
            &other,
            Graph::default(),
            args,
            plan,
            move |a, b| {
                let (a, b) = (a.detach(), b.detach());
                match op {
                    wt::CompareOp::Gt => a.broadcast_gt(&b),
                    wt::CompareOp::Ge => a.broadcast_ge(&b),
                    wt::CompareOp::Lt => a.broadcast_lt(&b),
                    wt::CompareOp::Le => a.broadcast_le(&b),
                    wt::CompareOp::Eq => a.broadcast_eq(&b),
                }?
                .to_dtype(DType::F32)
            },
        )
    }

    fn select(
        &mut self,
        this: Resource<TensorEntry>,
        on_true: Resource<TensorEntry>,
        on_false: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let (f, gf) = {
            let e = self.tensor(&on_false)?;
            (e.t.clone(), Graph::of(e))
        };
        let plan = |m: &Tensor, t: &Tensor| {
            let shape = broadcast(m.shape(), t.shape())?;
            let shape = broadcast(&shape, f.shape())?;
            Ok(Plan {
                elems: shape.elem_count(),
                flops: shape.elem_count() as u64,
            })
        };
        let f2 = f.clone();
        self.op2(
            SELECT,
            &this,
            &on_true,
            gf,
            Vec::new(),
            plan,
            move |m, t| {
                let shape = m
                    .shape()
                    .broadcast_shape_binary_op(t.shape(), "select")?
                    .broadcast_shape_binary_op(f2.shape(), "select")?;
                let cond = m.detach().ne(0f32)?.broadcast_as(&shape)?.contiguous()?;
                let t = t.broadcast_as(&shape)?.contiguous()?;
                let f = f2.broadcast_as(&shape)?.contiguous()?;
                cond.where_cond(&t, &f)
            },
        )
    }

    fn concat(
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

    fn drop(&mut self, rep: Resource<TensorEntry>) -> wasmtime::Result<()> {
        self.audited(DROP, Deadline::Skip, Vec::new, |s| {
            let entry = s.table.delete(rep)?;
            s.meters.free_tensor(entry.bytes);
            s.meters.close_handle();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use wt::{Host, HostTensor};

    use super::*;
    use crate::imports::bindings::w2s::strategy::student::{HostOptimizer, HostStudent};
    use crate::state::test_support::{host_state, tiny_task};
    use w2s_policy::Policy;

    fn borrow<T: 'static>(r: &Resource<T>) -> Resource<T> {
        Resource::new_borrow(r.rep())
    }

    fn values(s: &mut HostState, t: &Resource<TensorEntry>) -> Vec<f32> {
        s.to_list(borrow(t)).unwrap().unwrap()
    }

    #[test]
    fn bad_shapes_are_errors_and_charge_nothing() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let a = s.from_list(vec![1.0; 6], vec![2, 3]).unwrap().unwrap();
        let b = s.from_list(vec![1.0; 6], vec![2, 3]).unwrap().unwrap();
        let (flops, bytes) = (s.meters.flops, s.meters.tensor_bytes());
        let e = s.matmul(borrow(&a), borrow(&b)).unwrap().unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
        assert!(e.message.contains("matmul"), "{}", e.message);
        let c = s.from_list(vec![1.0; 4], vec![4]).unwrap().unwrap();
        let e = s
            .binary(borrow(&a), wt::BinaryOp::Add, borrow(&c))
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("broadcast"), "{}", e.message);
        assert!(s.from_list(vec![1.0; 5], vec![2, 3]).unwrap().is_err());
        assert!(s.from_list(vec![], vec![0]).unwrap().is_err());
        assert!(
            s.from_list(vec![1.0], vec![1, 1, 1, 1, 1])
                .unwrap()
                .is_err()
        );
        assert!(s.full(0.0, vec![u32::MAX, u32::MAX]).unwrap().is_err());
        assert!(
            s.reduce(borrow(&a), wt::ReduceOp::Sum, 2, false)
                .unwrap()
                .is_err()
        );
        assert!(s.narrow(borrow(&a), 1, 2, 2).unwrap().is_err());
        assert!(s.reshape(borrow(&a), vec![4]).unwrap().is_err());
        assert!(s.top_k(borrow(&a), 4).unwrap().is_err());
        assert!(s.quantile(borrow(&a), 1.5).unwrap().is_err());
        assert!(s.clamp(borrow(&a), 1.0, 0.0).unwrap().is_err());
        assert!(s.index_select(borrow(&a), 0, vec![2]).unwrap().is_err());
        let idx = s.from_list(vec![0.0, 3.0], vec![2, 1]).unwrap().unwrap();
        let (flops2, bytes2) = (s.meters.flops, s.meters.tensor_bytes());
        assert!(s.gather(borrow(&a), 1, borrow(&idx)).unwrap().is_err());
        assert!(
            s.soft_cross_entropy(borrow(&a), borrow(&c))
                .unwrap()
                .is_err()
        );
        assert!(s.concat(vec![borrow(&a), borrow(&c)], 0).unwrap().is_err());
        assert_eq!((s.meters.flops, s.meters.tensor_bytes()), (flops2, bytes2));
        assert_eq!(bytes + 8 + 16, bytes2);
        assert_eq!(flops + 4 + 2, flops2);
    }

    #[test]
    fn ops_charge_compute_and_memory_released_on_drop() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let a = s
            .from_list(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![2, 3])
            .unwrap()
            .unwrap();
        let b = s.transpose(borrow(&a), 0, 1).unwrap().unwrap();
        let before = s.meters.flops;
        let m = s.matmul(borrow(&a), borrow(&b)).unwrap().unwrap();
        assert_eq!(s.meters.flops - before, 2 * 2 * 3 * 2);
        assert_eq!(values(&mut s, &m), vec![14.0, 32.0, 32.0, 77.0]);
        assert_eq!(s.meters.tensor_bytes(), (6 + 6 + 4) * 4);
        assert_eq!(s.meters.handles(), 3);
        HostTensor::drop(&mut s, m).unwrap();
        HostTensor::drop(&mut s, b).unwrap();
        assert_eq!(s.meters.tensor_bytes(), 6 * 4);
        assert_eq!(s.meters.handles(), 1);
        // Reductions, top-k, quantile, argmax.
        let r = s
            .reduce(borrow(&a), wt::ReduceOp::Max, 1, false)
            .unwrap()
            .unwrap();
        assert_eq!(values(&mut s, &r), vec![3.0, 6.0]);
        let (v, i) = s.top_k(borrow(&a), 2).unwrap().unwrap();
        assert_eq!(values(&mut s, &v), vec![3.0, 2.0, 6.0, 5.0]);
        assert_eq!(values(&mut s, &i), vec![2.0, 1.0, 2.0, 1.0]);
        let q = s.quantile(borrow(&a), 0.25).unwrap().unwrap();
        assert_eq!(values(&mut s, &q), vec![1.5, 4.5]);
        let am = s.argmax(borrow(&a), 1).unwrap().unwrap();
        assert_eq!(s.shape(borrow(&am)).unwrap(), vec![2]);
        let g = s.from_list(vec![2.0, 0.0], vec![2, 1]).unwrap().unwrap();
        let gathered = s.gather(borrow(&a), 1, borrow(&g)).unwrap().unwrap();
        assert_eq!(values(&mut s, &gathered), vec![3.0, 4.0]);
        let total = s.sum_all(borrow(&a)).unwrap().unwrap();
        assert!(s.shape(borrow(&total)).unwrap().is_empty());
        assert_eq!(values(&mut s, &total), vec![21.0]);
    }

    #[test]
    fn a_tensor_bomb_hits_the_handle_limit() {
        let p = Policy::from_toml_str("version = 1\n[host]\nmax_handles = 8\n").unwrap();
        let (mut s, _) = host_state(p, tiny_task(8));
        let a = s.from_list(vec![1.0], vec![]).unwrap().unwrap();
        let mut kept = Vec::new();
        let trap = loop {
            match s.affine(borrow(&a), 2.0, 0.0) {
                Ok(r) => kept.push(r.unwrap()),
                Err(e) => break e,
            }
        };
        assert_eq!(
            trap.downcast_ref::<HostTrap>(),
            Some(&HostTrap::HandleLimit { limit: 8 })
        );
    }

    #[test]
    fn forward_and_backward_step_train_the_student() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let st = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 5 }), 3)
            .unwrap()
            .unwrap();
        let opt = HostOptimizer::new(
            &mut s,
            wit::OptimizerConfig {
                kind: wit::OptimizerKind::Adamw,
                learning_rate: 0.1,
                weight_decay: 0.0,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                momentum: 0.0,
            },
        )
        .unwrap();
        let targets = s
            .from_list(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0], vec![2, 3])
            .unwrap()
            .unwrap();
        let mut losses = Vec::new();
        for _ in 0..5 {
            let (z, h) = s.forward(borrow(&st), vec![0, 1]).unwrap().unwrap();
            assert_eq!(s.shape(borrow(&h)).unwrap(), vec![2, 5]);
            let ce = s
                .soft_cross_entropy(borrow(&z), borrow(&targets))
                .unwrap()
                .unwrap();
            let ent = s.entropy(borrow(&z)).unwrap().unwrap();
            let bonus = s.affine(borrow(&ent), 0.1, 0.0).unwrap().unwrap();
            let loss = s
                .binary(borrow(&ce), wt::BinaryOp::Add, borrow(&bonus))
                .unwrap()
                .unwrap();
            losses.push(values(&mut s, &ce)[0]);
            s.backward_step(borrow(&st), borrow(&loss), borrow(&opt))
                .unwrap()
                .unwrap();
            // The parameters changed: the same loss no longer reaches them.
            let e = s
                .backward_step(borrow(&st), borrow(&loss), borrow(&opt))
                .unwrap()
                .unwrap_err();
            assert!(e.message.contains("no forward"), "{}", e.message);
            for r in [z, h, ce, ent, bonus, loss] {
                HostTensor::drop(&mut s, r).unwrap();
            }
        }
        assert!(losses[4] < losses[0], "{losses:?}");
        assert_eq!(s.meters.train_steps, 5);
        // Parameters round-trip, shapes are checked, noise is seeded.
        let params = s.parameters(borrow(&st)).unwrap().unwrap();
        assert_eq!(params.len(), 4);
        let wrong = vec![borrow(&params[1]), borrow(&params[0])];
        assert!(s.set_parameters(borrow(&st), wrong).unwrap().is_err());
        s.add_noise(borrow(&st), 7, 0.5).unwrap().unwrap();
        assert!(s.add_noise(borrow(&st), 7, f32::NAN).unwrap().is_err());
        let noisy = s.parameters(borrow(&st)).unwrap().unwrap();
        assert_ne!(values(&mut s, &noisy[1]), values(&mut s, &params[1]));
        let back: Vec<_> = params.iter().map(borrow).collect();
        s.set_parameters(borrow(&st), back).unwrap().unwrap();
        let again = s.parameters(borrow(&st)).unwrap().unwrap();
        assert_eq!(values(&mut s, &again[1]), values(&mut s, &params[1]));
        s.reinit(borrow(&st), 3).unwrap().unwrap();
    }

    #[test]
    fn dropped_intermediates_of_a_tracked_graph_stay_charged() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let st = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
        let params = s.meters.tensor_bytes();
        let (z, h) = s.forward(borrow(&st), vec![0, 1]).unwrap().unwrap();
        HostTensor::drop(&mut s, h).unwrap();
        // A chain of 20 affines, each intermediate dropped: the graph keeps
        // them all alive, so the last one carries their charges.
        let mut cur = z;
        for _ in 0..20 {
            let next = s.affine(borrow(&cur), 1.0, 0.0).unwrap().unwrap();
            HostTensor::drop(&mut s, cur).unwrap();
            cur = next;
        }
        // Own values 2 x 3, the forward's graph (2 rows of features 4,
        // hidden 4 (the features again for a linear probe) and logits 3)
        // and 20 links of 2 x 3 each.
        let own = 6 * 4;
        let forward = own + 2 * 11 * 4;
        assert_eq!(s.meters.tensor_bytes() - params, forward + 20 * own);
        let d = s.detach(borrow(&cur)).unwrap().unwrap();
        assert_eq!(s.table.get(&d).unwrap().bytes, own);
        HostTensor::drop(&mut s, cur).unwrap();
        HostTensor::drop(&mut s, d).unwrap();
        assert_eq!(s.meters.tensor_bytes(), params);
    }

    #[test]
    fn forward_returns_logits_for_hidden_when_reads_are_denied() {
        let p = Policy::from_toml_str("version = 1\n[students]\nread_hidden = false\n").unwrap();
        let (mut s, _) = host_state(p, tiny_task(8));
        let st = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 5 }), 3)
            .unwrap()
            .unwrap();
        let (z, h) = s.forward(borrow(&st), vec![0]).unwrap().unwrap();
        assert_eq!(s.shape(borrow(&h)).unwrap(), vec![1, 3]);
        assert_eq!(values(&mut s, &z), values(&mut s, &h));
    }
}
