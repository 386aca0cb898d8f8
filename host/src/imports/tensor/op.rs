//! What every tensor op shares: the [`Plan`] of its output, the [`Graph`]
//! its inputs bring, the order in which it charges and runs
//! ([`HostState::finish`]), and the checks on guest arguments.

use candle_core::{Shape, Tensor};
use serde_json::json;
use wasmtime::component::Resource;

use super::TensorEntry;
use crate::audit::Args;
use crate::error::HostTrap;
use crate::imports::gate::Deadline;
use crate::imports::{WitResult, refusal, wit};
use crate::state::HostState;

/// Largest rank of a tensor.
const MAX_RANK: usize = 4;

/// An `invalid-argument` error.
pub(super) fn bad(message: impl Into<String>) -> wit::Error {
    refusal(wit::ErrorCode::InvalidArgument, message)
}

/// A tensor's shape, as the audit log records it.
pub(super) fn dims_of(t: &Tensor) -> serde_json::Value {
    json!(t.dims())
}

/// `log2(d) + 1`, rounded up: the FLOPs per value of a sort along `d`.
pub(super) fn log2_plus_one(d: usize) -> u64 {
    u64::from(usize::BITS - d.leading_zeros()) + 1
}

/// A shape from the guest: at most [`MAX_RANK`] dimensions, none zero,
/// with at most `max` elements (`limit` names that bound).
pub(super) fn guest_shape(shape: &[u32], max: u64, limit: &str) -> Result<Vec<usize>, wit::Error> {
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

/// `dim` as an index into `t`'s dimensions (`what` names the argument).
pub(super) fn check_dim(t: &Tensor, dim: u32, what: &str) -> Result<usize, wit::Error> {
    let d = dim as usize;
    if d >= t.rank() {
        return Err(bad(format!(
            "`{what}` {dim} is out of range for a tensor of rank {}",
            t.rank()
        )));
    }
    Ok(d)
}

/// The size of the last dimension; a scalar is refused.
pub(super) fn last_dim(t: &Tensor) -> Result<usize, wit::Error> {
    if t.rank() == 0 {
        return Err(bad("needs a tensor of rank >= 1"));
    }
    Ok(t.dims()[t.rank() - 1])
}

/// What an input brings to a result's graph: its FLOPs and its charged
/// bytes (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Graph {
    flops: u64,
    bytes: u64,
}

impl Graph {
    /// The graph of an existing tensor.
    pub(super) fn of(e: &TensorEntry) -> Self {
        Self {
            flops: e.graph_flops,
            bytes: e.bytes,
        }
    }

    /// Both graphs, as inputs of one result.
    pub(super) fn join(self, other: Self) -> Self {
        Self {
            flops: self.flops.saturating_add(other.flops),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// The planned output of an op: its element count and its FLOPs.
pub(super) struct Plan {
    pub(super) elems: usize,
    pub(super) flops: u64,
}

/// The plan of an op whose output has `t`'s shape, at `flops_per` FLOPs a
/// value.
pub(super) fn same(t: &Tensor, flops_per: u64) -> Result<Plan, wit::Error> {
    Ok(Plan {
        elems: t.elem_count(),
        flops: flops_per * t.elem_count() as u64,
    })
}

/// The plan of an elementwise op over `first` and `others` broadcast
/// together, left to right: one FLOP per output value.
pub(super) fn broadcast_plan(first: &Shape, others: &[&Shape]) -> Result<Plan, wit::Error> {
    let mut out = first.clone();
    for other in others {
        out = out
            .broadcast_shape_binary_op(other, "broadcast")
            .map_err(|_| {
                bad(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    out.dims(),
                    other.dims()
                ))
            })?;
    }
    Ok(Plan {
        elems: out.elem_count(),
        flops: out.elem_count() as u64,
    })
}

impl HostState {
    /// Charges `plan` (compute, then one handle and its memory) before
    /// running `run`; a candle failure after validation is internal.
    pub(super) fn finish(
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
    pub(super) fn op1(
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
    pub(super) fn op2(
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
}
