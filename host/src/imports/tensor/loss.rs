//! Losses and the softmaxes they are built from, all along the last
//! dimension and all from `w2s_train::autograd`: `softmax`,
//! `log-softmax`, `soft-cross-entropy`, `kl-divergence`,
//! `reverse-kl-divergence` and `entropy`.

use candle_core::Tensor;
use w2s_train::autograd;
use wasmtime::component::Resource;

use super::TensorEntry;
use super::op::{Graph, Plan, bad, last_dim, same};
use crate::imports::WitResult;
use crate::state::HostState;

const SOFTMAX: &str = "w2s:strategy/tensor.[method]tensor.softmax";
const LOG_SOFTMAX: &str = "w2s:strategy/tensor.[method]tensor.log-softmax";
const SOFT_CE: &str = "w2s:strategy/tensor.soft-cross-entropy";
const KL: &str = "w2s:strategy/tensor.kl-divergence";
const REVERSE_KL: &str = "w2s:strategy/tensor.reverse-kl-divergence";
const ENTROPY: &str = "w2s:strategy/tensor.entropy";

/// A `w2s_train` failure as a candle one, for [`HostState::finish`].
fn as_candle(e: w2s_train::TrainError) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl HostState {
    pub(super) fn softmax_inner(
        &mut self,
        this: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |t: &Tensor| {
            last_dim(t)?;
            same(t, 5)
        };
        self.op1(SOFTMAX, &this, Vec::new(), plan, |t| {
            autograd::softmax(t).map_err(as_candle)
        })
    }

    pub(super) fn log_softmax_inner(
        &mut self,
        this: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |t: &Tensor| {
            last_dim(t)?;
            same(t, 5)
        };
        self.op1(LOG_SOFTMAX, &this, Vec::new(), plan, |t| {
            autograd::log_softmax(t).map_err(as_candle)
        })
    }

    /// A loss of two tensors of one shape: a scalar, 10 FLOPs a value.
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
            f(x, y).map_err(as_candle)
        })
    }

    pub(super) fn soft_cross_entropy_inner(
        &mut self,
        logits: Resource<TensorEntry>,
        targets: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.loss(SOFT_CE, &logits, &targets, autograd::soft_cross_entropy)
    }

    pub(super) fn kl_divergence_inner(
        &mut self,
        targets: Resource<TensorEntry>,
        logits: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        self.loss(KL, &targets, &logits, autograd::kl_divergence)
    }

    pub(super) fn reverse_kl_divergence_inner(
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

    pub(super) fn entropy_inner(
        &mut self,
        logits: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |x: &Tensor| {
            last_dim(x)?;
            Ok(Plan {
                elems: 1,
                flops: 10 * x.elem_count() as u64,
            })
        };
        self.op1(ENTROPY, &logits, Vec::new(), plan, |x| {
            autograd::entropy(x).map_err(as_candle)
        })
    }
}
