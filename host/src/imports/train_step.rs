//! `train-step`, the one primitive that changes a student: validation,
//! charges (step, compute, optimizer state), then the fused step.

use candle_core::Tensor;
use w2s_train::Optimizer;
use w2s_train::head::validate_batch;
use wasmtime::component::Resource;

use crate::error::HostTrap;
use crate::imports::optimizer::OptimizerEntry;
use crate::imports::student::StudentEntry;
use crate::imports::{WitResult, train_refusal};
use crate::state::HostState;

impl HostState {
    pub(crate) fn train_step_inner(
        &mut self,
        this: Resource<StudentEntry>,
        opt: Resource<OptimizerEntry>,
        indices: Vec<u32>,
        targets: Vec<f32>,
        weights: Vec<f32>,
    ) -> WitResult<f32> {
        const WHAT: &str = "train-step";
        if let Err(e) = self.check_indices(&indices) {
            return Ok(Err(e));
        }
        let (in_dim, classes) = self.dims();
        let n = indices.len();
        if let Err(e) = validate_batch(n, classes, &targets, &weights) {
            return Ok(Err(train_refusal(e, WHAT)?));
        }
        if self.table.get(&this)?.lora().is_some() {
            return self.lora_train_step(&this, &opt, &indices, targets, weights);
        }
        let (id, arch) = {
            let s = self.table.get(&this)?;
            (s.id, s.head()?.arch())
        };
        if let Err(e) = self.check_call_size(n, arch) {
            return Ok(Err(e));
        }
        let (first_step, kind) = match self.table.get(&opt)?.check_for(id, WHAT)? {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };

        self.meters.check_step()?;
        self.meters
            .charge_flops(arch.train_step_flops(n, in_dim, classes))?;
        let state_bytes = if first_step {
            Optimizer::state_bytes(kind, arch.param_count(in_dim, classes))
        } else {
            0
        };
        self.meters.alloc_tensor(state_bytes)?;

        let x = self
            .task
            .rows(&indices)
            .map_err(|_| HostTrap::Internal { what: WHAT })?;
        let t = Tensor::from_vec(targets, (n, classes), x.device())
            .map_err(|_| HostTrap::Internal { what: WHAT })?;
        let w = Tensor::from_vec(weights, n, x.device())
            .map_err(|_| HostTrap::Internal { what: WHAT })?;
        let entry = self.table.get_mut(&opt)?;
        let mut optimizer = entry
            .optimizer
            .take()
            .ok_or(HostTrap::Internal { what: WHAT })?;
        if first_step {
            entry.bound_to = Some(id);
            entry.state_bytes = state_bytes;
        }
        let student = self.table.get_mut(&this)?;
        // The parameters change: tracked forwards made before no longer
        // reach them.
        student.vars = None;
        let result = student.head_mut()?.train_step(&mut optimizer, &x, &t, &w);
        self.table.get_mut(&opt)?.optimizer = Some(optimizer);
        match result {
            Ok(stats) => {
                self.meters.train_steps += 1;
                // Advisory and throttled (crate::progress).
                self.progress.report(self.meters.progress());
                Ok(Ok(stats.loss))
            }
            Err(e) => Ok(Err(train_refusal(e, WHAT)?)),
        }
    }
}
