//! The w2s:strategy imports, one file per WIT interface, on top of
//! `w2s_train`.
//!
//! Every host function first counts the call and checks the wall-clock
//! deadline ([`crate::state::Meters::enter`]), then validates its
//! arguments (an expected failure is a WIT `error` with a short fixed
//! text), then charges the compute budget, handles and tensor memory
//! (a broken limit is a typed trap), and only then does the work.

mod autograd;
pub(crate) mod gate;
mod lm;
mod lm_student;
pub(crate) mod metrics;
pub(crate) mod optimizer;
pub(crate) mod scratch_fs;
pub(crate) mod student;
pub(crate) mod task;
pub(crate) mod tensor;
mod train_step;

use w2s_train::{Arch, TrainError};
use wasmtime::component::{HasSelf, Linker};

use crate::error::{HostTrap, truncate};
use crate::state::HostState;

/// Code generated from `wit/w2s.wit`, world `lm-strategy` (`strategy`
/// plus the `lm` interface; the export is the same, so a component of
/// either world instantiates).
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "lm-strategy",
        // Every import may trap: limits end a run from inside host calls.
        imports: { default: trappable },
        with: {
            "w2s:strategy/student.student": crate::imports::student::StudentEntry,
            "w2s:strategy/student.optimizer": crate::imports::optimizer::OptimizerEntry,
            "w2s:strategy/tensor.tensor": crate::imports::tensor::TensorEntry,
        },
    });
}

pub(crate) use bindings::w2s::strategy::types as wit;

/// A host function's result for a WIT `result<T, error>`: the outer error
/// traps, the inner one goes back to the guest.
pub(crate) type WitResult<T> = wasmtime::Result<Result<T, wit::Error>>;

/// Longest text of a WIT error the host sends.
const MAX_ERROR_TEXT: usize = 200;

/// A WIT error with a short text.
pub(crate) fn refusal(code: wit::ErrorCode, message: impl Into<String>) -> wit::Error {
    wit::Error {
        code,
        message: truncate(message.into(), MAX_ERROR_TEXT),
    }
}

/// The `invalid-argument` error for a list longer than
/// `max_indices_per_call`.
pub(crate) fn too_many_indices(len: usize, max: u32) -> wit::Error {
    refusal(
        wit::ErrorCode::InvalidArgument,
        format!("`indices` has {len} values, over the limit of {max} per call"),
    )
}

/// Turns an expected training error into the WIT error for the guest, and
/// anything else into an internal trap. The texts of `InvalidArgument` and
/// `InvalidOptimizer` come from fixed templates in `w2s_train` with numbers
/// filled in: no paths, no internals.
pub(crate) fn train_refusal(err: TrainError, what: &'static str) -> Result<wit::Error, HostTrap> {
    match err {
        TrainError::InvalidArgument { what, reason } => Ok(refusal(
            wit::ErrorCode::InvalidArgument,
            format!("`{what}`: {reason}"),
        )),
        TrainError::InvalidOptimizer { field, reason, .. } => Ok(refusal(
            wit::ErrorCode::InvalidArgument,
            format!("optimizer `{field}` {reason}"),
        )),
        TrainError::OptimizerMismatch => Ok(refusal(
            wit::ErrorCode::WrongHandle,
            "optimizer state belongs to another student",
        )),
        _ => Err(HostTrap::Internal { what }),
    }
}

/// The WIT architecture of a native one.
pub(crate) fn arch_to_wit(arch: Arch) -> wit::Arch {
    match arch {
        Arch::Linear => wit::Arch::Linear,
        Arch::Mlp { hidden } => wit::Arch::Mlp(wit::Mlp { hidden }),
    }
}

/// The native architecture of a WIT one.
pub(crate) fn arch_from_wit(arch: wit::Arch) -> Arch {
    match arch {
        wit::Arch::Linear => Arch::Linear,
        wit::Arch::Mlp(wit::Mlp { hidden }) => Arch::Mlp { hidden },
    }
}

/// Adds the w2s:strategy imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    bindings::LmStrategy::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

impl wit::Host for HostState {}
