//! `train-step`, the one primitive that changes a student: validation,
//! charges (step, compute, optimizer state), then the fused step.

use w2s_train::Optimizer;
use w2s_train::head::validate_batch;
use wasmtime::component::Resource;

use crate::error::HostTrap;
use crate::imports::student::{OptimizerEntry, StudentEntry};
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
        let (id, arch) = {
            let s = self.table.get(&this)?;
            (s.id, s.head.arch())
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
        // The batch's rows are read in place on the CPU, gathered on a GPU.
        let result = student.head.train_step_rows(
            &mut optimizer,
            &self.task.features,
            &indices,
            &targets,
            &weights,
        );
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
