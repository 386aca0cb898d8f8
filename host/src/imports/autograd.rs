//! The `student` methods that work with tensors: a tracked forward,
//! backward-then-step, and direct access to the parameters (read, write,
//! re-initialise, add noise).
//!
//! A student keeps the candle variables of its current parameters from
//! the first `forward` after they last changed; every `forward` until the
//! next change reuses them, so a loss built from several forwards (two
//! batches, a consistency term) reaches the same variables. Any change of
//! the parameters (`train-step`, `backward-step`, `reinit`,
//! `set-parameters`, `add-noise`) forgets them: a loss built before the
//! change no longer reaches the parameters and `backward-step` refuses it.
//!
//! When the policy denies reading hidden representations, `forward`
//! returns the logits in place of the hidden tensor (documented in the
//! WIT): a strategy written for both cases still runs.

use w2s_train::{Head, Optimizer, autograd};
use wasmtime::component::Resource;

use crate::error::HostTrap;
use crate::imports::optimizer::{OptimizerEntry, StepEnd};
use crate::imports::student::{StudentEntry, StudentModel};
use crate::imports::tensor::TensorEntry;
use crate::imports::{WitResult, refusal, train_refusal, wit};
use crate::state::HostState;

/// Largest standard deviation `add-noise` accepts.
const MAX_NOISE_STD: f32 = 100.0;

/// The refusal of `set-parameters` when tensor `index` holds a NaN or an
/// infinity: `invalid-argument` with this fixed text (the 0.1.0 enum
/// `error-code` cannot grow without breaking old guests' links, so the
/// case is told by its text; `wit/w2s.wit` documents it).
pub(crate) fn non_finite_parameters(index: usize) -> wit::Error {
    refusal(
        wit::ErrorCode::InvalidArgument,
        format!("`params`: tensor {index} has a non-finite value (NaN or infinity)"),
    )
}

/// The position of the first tensor with a NaN or an infinity, if any:
/// `x - x` is 0 for every finite `x` and NaN otherwise, and a NaN survives
/// the sum, so one reduction per tensor decides (on the tensor's device).
fn first_non_finite(ts: &[candle_core::Tensor]) -> wasmtime::Result<Option<usize>> {
    for (i, t) in ts.iter().enumerate() {
        let sum = t
            .sub(t)
            .and_then(|d| d.sum_all())
            .and_then(|s| s.to_dtype(candle_core::DType::F64))
            .and_then(|s| s.to_scalar::<f64>())
            .map_err(|_| HostTrap::Internal {
                what: "set-parameters",
            })?;
        if !sum.is_finite() {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

impl HostState {
    pub(crate) fn forward_inner(
        &mut self,
        this: &Resource<StudentEntry>,
        indices: &[u32],
    ) -> WitResult<(Resource<TensorEntry>, Resource<TensorEntry>)> {
        const WHAT: &str = "forward";
        if let Err(e) = self.check_indices(indices) {
            return Ok(Err(e));
        }
        if indices.is_empty() {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                "`indices`: batch is empty",
            )));
        }
        if self.table.get(this)?.lora().is_some() {
            return self.lora_forward(this, indices);
        }
        let (in_dim, classes) = self.dims();
        let arch = self.table.get(this)?.head()?.arch();
        if let Err(e) = self.check_call_size(indices.len(), arch) {
            return Ok(Err(e));
        }
        let flops = arch.forward_flops(indices.len(), in_dim, classes);
        self.meters.charge_flops(flops)?;
        let x = self
            .task
            .rows(indices)
            .map_err(|_| HostTrap::Internal { what: WHAT })?;
        let entry = self.table.get_mut(this)?;
        if entry.vars.is_none() {
            entry.vars = Some(
                autograd::vars_of(entry.head()?).map_err(|_| HostTrap::Internal { what: WHAT })?,
            );
        }
        let vars = entry.vars.as_deref().unwrap_or_default();
        let (logits, hidden) = autograd::forward(entry.head()?, vars, &x)
            .map_err(|_| HostTrap::Internal { what: WHAT })?;
        let hidden = if self.policy.students().read_hidden {
            hidden
        } else {
            logits.clone()
        };
        // The graph keeps the gathered features and the activations alive.
        let width = in_dim + arch.hidden_dim(in_dim) + classes;
        let graph_bytes = (indices.len() * width) as u64 * 4;
        let logits = self.push_tensor(logits, flops, graph_bytes)?;
        let hidden = self.push_tensor(hidden, flops, graph_bytes)?;
        Ok(Ok((logits, hidden)))
    }

    pub(crate) fn backward_step_inner(
        &mut self,
        this: &Resource<StudentEntry>,
        loss: &Resource<TensorEntry>,
        opt: &Resource<OptimizerEntry>,
    ) -> WitResult<()> {
        const WHAT: &str = "backward-step";
        let (loss_t, graph) = {
            let e = self.tensor(loss)?;
            (e.t.clone(), e.graph_flops)
        };
        if loss_t.elem_count() != 1 {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                "`loss` must be a scalar",
            )));
        }
        if self.table.get(this)?.lora().is_some() {
            return self.lora_backward_step(this, &loss_t, graph, opt);
        }
        let (in_dim, classes) = self.dims();
        let (id, arch, has_vars) = {
            let s = self.table.get(this)?;
            (s.id, s.head()?.arch(), s.vars.is_some())
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
        let params = arch.param_count(in_dim, classes);
        self.meters.check_step()?;
        self.meters
            .charge_flops(graph.saturating_mul(2).saturating_add(12 * params))?;
        let state_bytes = if first_step {
            Optimizer::state_bytes(kind, params)
        } else {
            0
        };
        self.meters.alloc_tensor(state_bytes)?;
        let entry = self.table.get_mut(opt)?;
        let mut optimizer = entry
            .optimizer
            .take()
            .ok_or(HostTrap::Internal { what: WHAT })?;
        let student = self.table.get_mut(this)?;
        let vars = student.vars.take().unwrap_or_default();
        let result = autograd::backward_step(student.head_mut()?, &vars, &loss_t, &mut optimizer);
        if result.is_err() {
            // Nothing changed: keep the variables for another loss.
            student.vars = Some(vars);
        }
        let step = StepEnd {
            first_step,
            student: id,
            state_bytes,
        };
        self.finish_step(opt, optimizer, result, step, WHAT)
    }

    pub(crate) fn reinit_inner(
        &mut self,
        this: &Resource<StudentEntry>,
        seed: u64,
    ) -> WitResult<()> {
        if self.table.get(this)?.lora().is_some() {
            return self.lora_reinit(this, seed);
        }
        let (in_dim, classes) = self.dims();
        let arch = self.table.get(this)?.head()?.arch();
        self.meters
            .charge_flops(arch.param_count(in_dim, classes))?;
        let head = Head::init(arch, in_dim, classes, seed, self.task.features.device())
            .map_err(|_| HostTrap::Internal { what: "reinit" })?;
        let entry = self.table.get_mut(this)?;
        entry.model = StudentModel::Head(head);
        entry.vars = None;
        Ok(Ok(()))
    }

    pub(crate) fn parameters_inner(
        &mut self,
        this: &Resource<StudentEntry>,
    ) -> WitResult<Vec<Resource<TensorEntry>>> {
        let params = match &self.table.get(this)?.model {
            StudentModel::Head(h) => h.params().to_vec(),
            StudentModel::Lora(l) => l.params().to_vec(),
        };
        let max = self.policy.host().max_elements_per_call;
        if let Some(p) = params.iter().find(|p| p.elem_count() as u64 > max) {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                format!(
                    "a parameter has {} values, over the limit of {max} per call",
                    p.elem_count()
                ),
            )));
        }
        let mut out = Vec::with_capacity(params.len());
        for p in params {
            self.meters.charge_flops(p.elem_count() as u64)?;
            out.push(self.push_tensor(p.detach(), 0, 0)?);
        }
        Ok(Ok(out))
    }

    pub(crate) fn set_parameters_inner(
        &mut self,
        this: &Resource<StudentEntry>,
        params: &[Resource<TensorEntry>],
    ) -> WitResult<()> {
        let expected = match &self.table.get(this)?.model {
            StudentModel::Head(h) => h.params().len(),
            StudentModel::Lora(l) => l.params().len(),
        };
        if params.len() > 16.max(expected) {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                "`params` has the wrong number of tensors",
            )));
        }
        let mut ts = Vec::with_capacity(params.len());
        for p in params {
            ts.push(self.tensor(p)?.t.detach());
        }
        let count: usize = ts.iter().map(|t| t.elem_count()).sum();
        // The copy (the finiteness check rides along: one pass each).
        self.meters.charge_flops(count as u64)?;
        if let Some(i) = first_non_finite(&ts)? {
            return Ok(Err(non_finite_parameters(i)));
        }
        let entry = self.table.get_mut(this)?;
        let result = match &mut entry.model {
            StudentModel::Head(h) => h.set_params(ts),
            StudentModel::Lora(l) => l.set_params(ts),
        };
        match result {
            Ok(()) => {
                entry.vars = None;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(train_refusal(e, "set-parameters")?)),
        }
    }

    pub(crate) fn add_noise_inner(
        &mut self,
        this: &Resource<StudentEntry>,
        seed: u64,
        std: f32,
    ) -> WitResult<()> {
        if !(0.0..=MAX_NOISE_STD).contains(&std) {
            return Ok(Err(refusal(
                wit::ErrorCode::InvalidArgument,
                format!("`std` must be finite, in [0, {MAX_NOISE_STD}]"),
            )));
        }
        let (in_dim, classes) = self.dims();
        let count = match &self.table.get(this)?.model {
            StudentModel::Head(h) => h.arch().param_count(in_dim, classes),
            StudentModel::Lora(l) => l.param_count(),
        };
        // A normal draw and an add per parameter.
        self.meters.charge_flops(10 * count)?;
        let entry = self.table.get_mut(this)?;
        match &mut entry.model {
            StudentModel::Head(h) => h.add_noise(seed, std),
            StudentModel::Lora(l) => l.add_noise(seed, std),
        }
        .map_err(|_| HostTrap::Internal { what: "add-noise" })?;
        entry.vars = None;
        Ok(Ok(()))
    }
}
