//! `w2s:strategy/student`: optimizers.
//!
//! An optimizer binds to the run-unique id of the first student it
//! updates. Its state is charged to tensor memory when it first steps and
//! released when the guest drops the handle.
//!
//! An optimizer whose configuration is out of range is still created (WIT
//! constructors cannot fail): it holds the refusal, and every use of it
//! (`train-step`, `set-learning-rate`) returns that `invalid-argument`
//! error, naming the field. It counts as a live handle until dropped.

use serde_json::json;
use w2s_train::{Optimizer, OptimizerConfig, OptimizerKind};
use wasmtime::component::Resource;

use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::student;
use crate::imports::gate::Deadline;
use crate::imports::{WitResult, refusal, train_refusal, wit};
use crate::state::{HostState, Live};

const NEW_OPTIMIZER: &str = "w2s:strategy/student.[constructor]optimizer";
const SET_LR: &str = "w2s:strategy/student.[method]optimizer.set-learning-rate";
const DROP_OPTIMIZER: &str = "w2s:strategy/student.[resource-drop]optimizer";

/// An optimizer in the resource table. `pub` only because the generated
/// bindings re-export it; the module is private.
#[allow(unreachable_pub)]
pub struct OptimizerEntry {
    /// `None` when the configuration was refused (see `refused`).
    pub(crate) optimizer: Option<Optimizer>,
    /// The error every use returns when the configuration was refused.
    pub(crate) refused: Option<wit::Error>,
    /// The student this optimizer's state belongs to, once it has stepped.
    pub(crate) bound_to: Option<u64>,
    /// Tensor memory charged for the state.
    pub(crate) state_bytes: u64,
    _live: Live,
}

impl OptimizerEntry {
    /// Whether this optimizer may update the student with run-unique id
    /// `student`: its refusal (a configuration out of range, or the state
    /// of another student) as the guest's error, else whether this is its
    /// first step and its kind (which sizes the state to charge).
    pub(crate) fn check_for(
        &self,
        student: u64,
        what: &'static str,
    ) -> Result<Result<(bool, OptimizerKind), wit::Error>, HostTrap> {
        if let Some(refused) = &self.refused {
            return Ok(Err(refused.clone()));
        }
        if self.bound_to.is_some_and(|bound| bound != student) {
            return Ok(Err(refusal(
                wit::ErrorCode::WrongHandle,
                "this optimizer belongs to another student",
            )));
        }
        let kind = self
            .optimizer
            .as_ref()
            .ok_or(HostTrap::Internal { what })?
            .config()
            .kind;
        Ok(Ok((self.bound_to.is_none(), kind)))
    }
}

/// What [`HostState::finish_step`] needs to know of a step begun by a
/// backward-driven update (`backward-step`, and its LoRA twin).
pub(crate) struct StepEnd {
    /// Whether this is the optimizer's first step (it binds then).
    pub(crate) first_step: bool,
    /// The student's run-unique id.
    pub(crate) student: u64,
    /// Tensor memory charged for the optimizer state at this step.
    pub(crate) state_bytes: u64,
}

impl HostState {
    /// Puts `optimizer` back in its entry and settles a step: on success
    /// the optimizer is bound to the student (first step), the step is
    /// counted and progress reported; on failure the state's charge is
    /// returned and the guest gets the refusal.
    pub(crate) fn finish_step(
        &mut self,
        opt: &Resource<OptimizerEntry>,
        optimizer: Optimizer,
        result: w2s_train::Result<()>,
        step: StepEnd,
        what: &'static str,
    ) -> WitResult<()> {
        let entry = self.table.get_mut(opt)?;
        entry.optimizer = Some(optimizer);
        match result {
            Ok(()) => {
                if step.first_step {
                    entry.bound_to = Some(step.student);
                    entry.state_bytes = step.state_bytes;
                }
                self.meters.train_steps += 1;
                self.progress.report(self.meters.progress());
                Ok(Ok(()))
            }
            Err(e) => {
                self.meters.free_tensor(step.state_bytes);
                Ok(Err(train_refusal(e, what)?))
            }
        }
    }
}

fn native_config(c: &wit::OptimizerConfig) -> OptimizerConfig {
    OptimizerConfig {
        kind: match c.kind {
            wit::OptimizerKind::Adamw => OptimizerKind::AdamW,
            wit::OptimizerKind::Sgd => OptimizerKind::Sgd,
        },
        learning_rate: c.learning_rate,
        weight_decay: c.weight_decay,
        beta1: c.beta1,
        beta2: c.beta2,
        eps: c.eps,
        momentum: c.momentum,
    }
}

impl student::HostOptimizer for HostState {
    fn new(&mut self, config: wit::OptimizerConfig) -> wasmtime::Result<Resource<OptimizerEntry>> {
        let kind = match config.kind {
            wit::OptimizerKind::Adamw => "adamw",
            wit::OptimizerKind::Sgd => "sgd",
        };
        self.audited(
            NEW_OPTIMIZER,
            Deadline::Check,
            || vec![("kind", json!(kind))],
            |s| {
                s.meters.open_handle()?;
                let (optimizer, refused) = match Optimizer::new(native_config(&config)) {
                    Ok(o) => (Some(o), None),
                    Err(e) => (None, Some(train_refusal(e, "optimizer")?)),
                };
                let _live = s.live.guard();
                Ok(s.table.push(OptimizerEntry {
                    optimizer,
                    refused,
                    bound_to: None,
                    state_bytes: 0,
                    _live,
                })?)
            },
        )
    }

    fn set_learning_rate(
        &mut self,
        this: Resource<OptimizerEntry>,
        learning_rate: f32,
    ) -> WitResult<()> {
        let args = || vec![("learning_rate", json!(learning_rate))];
        self.audited(SET_LR, Deadline::Check, args, |s| {
            let entry = s.table.get_mut(&this)?;
            if let Some(refused) = &entry.refused {
                return Ok(Err(refused.clone()));
            }
            let optimizer = entry.optimizer.as_mut().ok_or(HostTrap::Internal {
                what: "set-learning-rate",
            })?;
            match optimizer.set_learning_rate(learning_rate) {
                Ok(()) => Ok(Ok(())),
                Err(e) => Ok(Err(train_refusal(e, "set-learning-rate")?)),
            }
        })
    }

    fn drop(&mut self, rep: Resource<OptimizerEntry>) -> wasmtime::Result<()> {
        self.audited(DROP_OPTIMIZER, Deadline::Skip, Vec::new, |s| {
            let entry = s.table.delete(rep)?;
            s.meters.free_tensor(entry.state_bytes);
            s.meters.close_handle();
            Ok(())
        })
    }
}

/// An AdamW configuration with `learning_rate` and the usual betas (for
/// tests).
#[cfg(test)]
pub(crate) fn adamw(learning_rate: f32) -> wit::OptimizerConfig {
    wit::OptimizerConfig {
        kind: wit::OptimizerKind::Adamw,
        learning_rate,
        weight_decay: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        momentum: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use student::{HostOptimizer, HostStudent};

    use super::*;
    use crate::state::test_support::{borrow, host_state, tiny_task};
    use w2s_policy::Policy;

    #[test]
    fn refused_optimizer_config_is_returned_on_every_use() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let a = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
        let opt = HostOptimizer::new(&mut s, adamw(-1.0)).unwrap();
        let e = s.set_learning_rate(borrow(&opt), 0.1).unwrap().unwrap_err();
        assert!(e.message.contains("learning_rate"), "{}", e.message);
        let e = s
            .train_step(
                borrow(&a),
                borrow(&opt),
                vec![0],
                vec![1.0, 0.0, 0.0],
                vec![1.0],
            )
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
        assert_eq!(s.meters.train_steps, 0);
    }

    #[test]
    fn optimizer_kinds_map_one_to_one() {
        let c = wit::OptimizerConfig {
            kind: wit::OptimizerKind::Sgd,
            learning_rate: 0.1,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum: 0.5,
        };
        let n = native_config(&c);
        assert_eq!(n.kind, OptimizerKind::Sgd);
        assert_eq!(n.momentum, 0.5);
        let a = native_config(&wit::OptimizerConfig {
            kind: wit::OptimizerKind::Adamw,
            ..c
        });
        assert_eq!(a.kind, OptimizerKind::AdamW);
    }
}
