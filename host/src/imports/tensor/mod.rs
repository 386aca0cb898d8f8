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

//!
//! The ops live by family: [`creation`] (in and out of the guest),
//! [`arithmetic`] (matmul and the elementwise ops), [`reduction`],
//! [`indexing`] (indexing and shape), [`loss`] (losses and softmaxes);
//! [`op`] holds what they share. The forward and backward through a
//! student are `crate::imports::autograd`.

mod arithmetic;
mod creation;
mod indexing;
mod loss;
mod op;
mod reduction;
#[cfg(test)]
mod tests;

use candle_core::Tensor;
use wasmtime::component::Resource;

use crate::imports::WitResult;
use crate::imports::bindings::w2s::strategy::tensor as wt;
use crate::state::{HostState, Live};

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
}

/// Handles, in the WIT's signatures.
type T = Resource<TensorEntry>;

impl wt::Host for HostState {
    fn soft_cross_entropy(&mut self, logits: T, targets: T) -> WitResult<T> {
        self.soft_cross_entropy_inner(logits, targets)
    }

    fn kl_divergence(&mut self, targets: T, logits: T) -> WitResult<T> {
        self.kl_divergence_inner(targets, logits)
    }

    fn reverse_kl_divergence(&mut self, logits: T, targets: T) -> WitResult<T> {
        self.reverse_kl_divergence_inner(logits, targets)
    }

    fn entropy(&mut self, logits: T) -> WitResult<T> {
        self.entropy_inner(logits)
    }
}

impl wt::HostTensor for HostState {
    fn from_list(&mut self, values: Vec<f32>, shape: Vec<u32>) -> WitResult<T> {
        self.new_from_list_inner(values, shape)
    }

    fn full(&mut self, value: f32, shape: Vec<u32>) -> WitResult<T> {
        self.full_inner(value, shape)
    }

    fn shape(&mut self, this: T) -> wasmtime::Result<Vec<u32>> {
        self.shape_inner(this)
    }

    fn to_list(&mut self, this: T) -> WitResult<Vec<f32>> {
        self.read_list_inner(this)
    }

    fn matmul(&mut self, this: T, other: T) -> WitResult<T> {
        self.matmul_inner(this, other)
    }

    fn binary(&mut self, this: T, op: wt::BinaryOp, other: T) -> WitResult<T> {
        self.binary_inner(this, op, other)
    }

    fn unary(&mut self, this: T, op: wt::UnaryOp) -> WitResult<T> {
        self.unary_inner(this, op)
    }

    fn affine(&mut self, this: T, mul: f32, add: f32) -> WitResult<T> {
        self.affine_inner(this, mul, add)
    }

    fn clamp(&mut self, this: T, min: f32, max: f32) -> WitResult<T> {
        self.clamp_inner(this, min, max)
    }

    fn softmax(&mut self, this: T) -> WitResult<T> {
        self.softmax_inner(this)
    }

    fn log_softmax(&mut self, this: T) -> WitResult<T> {
        self.log_softmax_inner(this)
    }

    fn reduce(&mut self, this: T, op: wt::ReduceOp, dim: u32, keepdim: bool) -> WitResult<T> {
        self.reduce_inner(this, op, dim, keepdim)
    }

    fn sum_all(&mut self, this: T) -> WitResult<T> {
        self.sum_all_inner(this)
    }

    fn mean_all(&mut self, this: T) -> WitResult<T> {
        self.mean_all_inner(this)
    }

    fn argmax(&mut self, this: T, dim: u32) -> WitResult<T> {
        self.argmax_inner(this, dim)
    }

    fn top_k(&mut self, this: T, k: u32) -> WitResult<(T, T)> {
        self.top_k_inner(this, k)
    }

    fn quantile(&mut self, this: T, q: f32) -> WitResult<T> {
        self.quantile_inner(this, q)
    }

    fn gather(&mut self, this: T, dim: u32, index: T) -> WitResult<T> {
        self.gather_inner(this, dim, index)
    }

    fn index_select(&mut self, this: T, dim: u32, indices: Vec<u32>) -> WitResult<T> {
        self.index_select_inner(this, dim, indices)
    }

    fn narrow(&mut self, this: T, dim: u32, start: u32, len: u32) -> WitResult<T> {
        self.narrow_inner(this, dim, start, len)
    }

    fn transpose(&mut self, this: T, dim0: u32, dim1: u32) -> WitResult<T> {
        self.transpose_inner(this, dim0, dim1)
    }

    fn reshape(&mut self, this: T, shape: Vec<u32>) -> WitResult<T> {
        self.reshape_inner(this, shape)
    }

    fn detach(&mut self, this: T) -> WitResult<T> {
        self.detach_inner(this)
    }

    fn compare(&mut self, this: T, op: wt::CompareOp, other: T) -> WitResult<T> {
        self.compare_inner(this, op, other)
    }

    fn select(&mut self, this: T, on_true: T, on_false: T) -> WitResult<T> {
        self.select_inner(this, on_true, on_false)
    }

    fn concat(&mut self, parts: Vec<T>, dim: u32) -> WitResult<T> {
        self.concat_inner(parts, dim)
    }

    fn drop(&mut self, rep: T) -> wasmtime::Result<()> {
        self.drop_inner(rep)
    }
}
