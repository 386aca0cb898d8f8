//! The `student` methods for `lm-lora` students: the same validation
//! order as heads (arguments, then charges, then work), with costs from
//! the backbone's size and the batch's padded length
//! ([`w2s_train::lora::Backbone::forward_flops`]): the host pads a batch to
//! its longest row and charges every padded position, before running it,
//! so no choice of indices makes a call cheaper than its charge.

use candle_core::Tensor;
use w2s_train::Optimizer;
use w2s_train::lora::LoraStudent;
use w2s_train::lora_tokens::TokenBatch;
use wasmtime::component::Resource;

use crate::error::HostTrap;
use crate::imports::optimizer::{OptimizerEntry, StepEnd};
use crate::imports::student::{StudentEntry, StudentModel};
use crate::imports::tensor::TensorEntry;
use crate::imports::{WitResult, refusal, train_refusal, wit};
use crate::state::HostState;

fn internal(what: &'static str) -> impl Fn(w2s_train::TrainError) -> HostTrap {
    move |_| HostTrap::Internal { what }
}

impl HostState {
    fn lora_of(&self, this: &Resource<StudentEntry>) -> wasmtime::Result<LoraStudent> {
        Ok(self
            .table
            .get(this)?
            .lora()
            .cloned()
            .ok_or(HostTrap::Internal { what: "lm-lora" })?)
    }

    /// The padded batch of `indices` (already checked against the pool),
    /// refused when the call's transient memory would exceed the tensor
    /// memory left or its outputs the per-call element cap. A `tracked`
    /// call (a train step, a tracked forward) is bounded by
    /// [`w2s_train::lora::Backbone::step_peak_bytes`], the memory model of
    /// docs/LORA.md; an untracked one (`predict`, `hidden`) by its
    /// activations.
    fn lora_batch(
        &self,
        student: &LoraStudent,
        indices: &[u32],
        tracked: bool,
    ) -> wasmtime::Result<Result<TokenBatch, wit::Error>> {
        let tokens = self.task.pool_tokens.as_ref().ok_or(HostTrap::Internal {
            what: "pool tokens",
        })?;
        let hidden = student.backbone().config().hidden_size;
        if let Err(e) = self.check_elements("indices", indices.len(), hidden) {
            return Ok(Err(e));
        }
        let seq = tokens.padded_len(indices);
        let bb = student.backbone();
        let bytes = if tracked {
            bb.step_peak_bytes(student.spec(), indices.len(), seq)
        } else {
            bb.activation_bytes(indices.len(), seq)
        };
        let limit = self.policy.host().tensor_bytes;
        let left = limit.saturating_sub(self.meters.tensor_bytes());
        if bytes > left {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                format!(
                    "`indices`: {} rows of {seq} tokens need up to {bytes} bytes, over the {left} left of the tensor memory limit",
                    indices.len()
                ),
            )));
        }
        Ok(Ok(tokens.batch(indices)))
    }

    /// `predict` (`what == "predict"`) or `hidden` of an `lm-lora` student.
    pub(crate) fn lora_rows(
        &mut self,
        this: &Resource<StudentEntry>,
        indices: &[u32],
        what: &'static str,
    ) -> WitResult<Vec<f32>> {
        let student = self.lora_of(this)?;
        let batch = match self.lora_batch(&student, indices, false)? {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let flops = student
            .backbone()
            .forward_flops(student.spec(), batch.rows(), batch.seq());
        self.meters.charge_flops(flops)?;
        let out = if what == "predict" {
            student.predict(&batch)
        } else {
            student.forward(&batch).map(|(_, h)| h)
        }
        .map_err(internal(what))?;
        let values = out
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|_| HostTrap::Internal { what })?;
        Ok(Ok(values))
    }

    pub(crate) fn lora_train_step(
        &mut self,
        this: &Resource<StudentEntry>,
        opt: &Resource<OptimizerEntry>,
        indices: &[u32],
        targets: Vec<f32>,
        weights: Vec<f32>,
    ) -> WitResult<f32> {
        const WHAT: &str = "train-step";
        let student = self.lora_of(this)?;
        let id = self.table.get(this)?.id;
        let batch = match self.lora_batch(&student, indices, true)? {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let (first_step, kind) = match self.table.get(opt)?.check_for(id, WHAT)? {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };
        self.meters.check_step()?;
        let bb = student.backbone();
        self.meters
            .charge_flops(bb.train_step_flops(student.spec(), batch.rows(), batch.seq()))?;
        let state_bytes = if first_step {
            Optimizer::state_bytes(kind, student.param_count())
        } else {
            0
        };
        self.meters.alloc_tensor(state_bytes)?;
        let (n, classes) = (indices.len(), self.task.classes());
        let dev = bb.device();
        let t = Tensor::from_vec(targets, (n, classes), dev)
            .map_err(|_| HostTrap::Internal { what: WHAT })?;
        let w = Tensor::from_vec(weights, n, dev).map_err(|_| HostTrap::Internal { what: WHAT })?;
        let entry = self.table.get_mut(opt)?;
        let mut optimizer = entry
            .optimizer
            .take()
            .ok_or(HostTrap::Internal { what: WHAT })?;
        if first_step {
            entry.bound_to = Some(id);
            entry.state_bytes = state_bytes;
        }
        let entry = self.table.get_mut(this)?;
        entry.vars = None;
        let result = match &mut entry.model {
            StudentModel::Lora(l) => l.train_step(&mut optimizer, &batch, &t, &w),
            StudentModel::Head(_) => return Err(HostTrap::Internal { what: WHAT }.into()),
        };
        self.table.get_mut(opt)?.optimizer = Some(optimizer);
        match result {
            Ok(loss) => {
                self.meters.train_steps += 1;
                self.progress.report(self.meters.progress());
                Ok(Ok(loss))
            }
            Err(e) => Ok(Err(train_refusal(e, WHAT)?)),
        }
    }

    pub(crate) fn lora_forward(
        &mut self,
        this: &Resource<StudentEntry>,
        indices: &[u32],
    ) -> WitResult<(Resource<TensorEntry>, Resource<TensorEntry>)> {
        const WHAT: &str = "forward";
        let student = self.lora_of(this)?;
        let batch = match self.lora_batch(&student, indices, true)? {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let bb = student.backbone();
        let flops = bb.forward_flops(student.spec(), batch.rows(), batch.seq());
        self.meters.charge_flops(flops)?;
        let graph_bytes = bb.activation_bytes(batch.rows(), batch.seq());
        let entry = self.table.get_mut(this)?;
        if entry.vars.is_none() {
            entry.vars = Some(student.vars().map_err(internal(WHAT))?);
        }
        let tensors: Vec<Tensor> = entry
            .vars
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|v| v.as_tensor().clone())
            .collect();
        let (logits, hidden) = student
            .forward_from(&tensors, &batch)
            .map_err(internal(WHAT))?;
        let hidden = if self.policy.students().read_hidden {
            hidden
        } else {
            logits.clone()
        };
        let logits = self.push_tensor(logits, flops, graph_bytes)?;
        let hidden = self.push_tensor(hidden, flops, graph_bytes)?;
        Ok(Ok((logits, hidden)))
    }

    pub(crate) fn lora_backward_step(
        &mut self,
        this: &Resource<StudentEntry>,
        loss: &Tensor,
        graph_flops: u64,
        opt: &Resource<OptimizerEntry>,
    ) -> WitResult<()> {
        const WHAT: &str = "backward-step";
        let (id, has_vars, params) = {
            let e = self.table.get(this)?;
            let params = e.lora().map_or(0, |l| l.param_count());
            (e.id, e.vars.is_some(), params)
        };
        if !has_vars {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                "`loss`: no forward of this student since its parameters last changed",
            )));
        }
        let (first_step, kind) = match self.table.get(opt)?.check_for(id, WHAT)? {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };
        self.meters.check_step()?;
        self.meters
            .charge_flops(graph_flops.saturating_mul(2).saturating_add(12 * params))?;
        let state_bytes = if first_step {
            Optimizer::state_bytes(kind, params)
        } else {
            0
        };
        self.meters.alloc_tensor(state_bytes)?;
        let entry = self.table.get_mut(this)?;
        let vars = entry.vars.take().unwrap_or_default();
        let grads = (|| -> w2s_train::Result<Vec<Tensor>> {
            let store = loss.backward()?;
            let mut reached = false;
            let mut out = Vec::with_capacity(vars.len());
            for v in &vars {
                match store.get(v.as_tensor()) {
                    Some(g) => {
                        reached = true;
                        out.push(g.clone());
                    }
                    None => out.push(v.as_tensor().zeros_like()?),
                }
            }
            if !reached {
                return Err(w2s_train::TrainError::InvalidArgument {
                    what: "loss",
                    reason: "does not depend on this student's current parameters".to_owned(),
                });
            }
            Ok(out)
        })();
        let grads = match grads {
            Ok(g) => g,
            Err(e) => {
                self.table.get_mut(this)?.vars = Some(vars);
                self.meters.free_tensor(state_bytes);
                return Ok(Err(train_refusal(e, WHAT)?));
            }
        };
        let oe = self.table.get_mut(opt)?;
        let mut optimizer = oe
            .optimizer
            .take()
            .ok_or(HostTrap::Internal { what: WHAT })?;
        let entry = self.table.get_mut(this)?;
        let result = match &mut entry.model {
            StudentModel::Lora(l) => l.apply_gradients(&mut optimizer, &grads),
            StudentModel::Head(_) => return Err(HostTrap::Internal { what: WHAT }.into()),
        };
        let step = StepEnd {
            first_step,
            student: id,
            state_bytes,
        };
        self.finish_step(opt, optimizer, result, step, WHAT)
    }

    pub(crate) fn lora_reinit(
        &mut self,
        this: &Resource<StudentEntry>,
        seed: u64,
    ) -> WitResult<()> {
        let count = self.lora_of(this)?.param_count();
        self.meters.charge_flops(count)?;
        let entry = self.table.get_mut(this)?;
        if let StudentModel::Lora(l) = &mut entry.model {
            l.reinit(seed).map_err(internal("reinit"))?;
        }
        entry.vars = None;
        Ok(Ok(()))
    }
}
