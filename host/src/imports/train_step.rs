//! `train-step`, the one primitive that changes a student: validation,
//! charges (step, compute, optimizer state), then the fused step.

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
        let result = student.head_mut()?.train_step_rows(
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use w2s_policy::Policy;
    use w2s_train::bundle::PublicTask;

    use crate::imports::bindings::w2s::strategy::student::{HostOptimizer, HostStudent};
    use crate::imports::wit;
    use crate::state::test_support::{borrow, host_state, tiny_task};

    /// The same task with its features as a non-contiguous view of the
    /// same values: the train step then takes the candle-op path, the one
    /// a GPU runs, instead of the CPU kernels.
    fn strided_copy(task: &PublicTask) -> Arc<PublicTask> {
        let features = task
            .features
            .t()
            .unwrap()
            .contiguous()
            .unwrap()
            .t()
            .unwrap();
        assert!(!features.is_contiguous());
        Arc::new(PublicTask {
            dir: task.dir.clone(),
            manifest: task.manifest.clone(),
            task_hash: task.task_hash.clone(),
            features,
            weak_probs: task.weak_probs.clone(),
            pool_tokens: task.pool_tokens.clone(),
            backbone: task.backbone.clone(),
        })
    }

    /// FLOPs and peak tensor bytes after three MLP train steps and a
    /// predict, and the last loss.
    fn meter_a_run(task: Arc<PublicTask>) -> (u64, u64, f32) {
        let (mut s, _) = host_state(Policy::default(), task);
        let a = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 6 }), 3)
            .unwrap()
            .unwrap();
        let cfg = wit::OptimizerConfig {
            kind: wit::OptimizerKind::Adamw,
            learning_rate: 0.05,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum: 0.0,
        };
        let opt = HostOptimizer::new(&mut s, cfg).unwrap();
        let mut loss = 0.0;
        for step in 0..3u32 {
            let idx = vec![step, 7, 2, 5];
            let t = [1.0, 0.0, 0.0, 0.2, 0.3, 0.5].repeat(2);
            loss = s
                .train_step(borrow(&a), borrow(&opt), idx, t, vec![1.0, 0.5, 2.0, 1.0])
                .unwrap()
                .unwrap();
        }
        s.predict(borrow(&a), vec![0, 1, 2]).unwrap().unwrap();
        (s.meters.flops, s.meters.peak_tensor_bytes, loss)
    }

    #[test]
    fn metering_does_not_depend_on_the_kernels() {
        let task = tiny_task(8);
        let (flops, bytes, loss) = meter_a_run(task.clone());
        let (flops2, bytes2, loss2) = meter_a_run(strided_copy(&task));
        assert!(flops > 0 && bytes > 0);
        assert_eq!((flops, bytes), (flops2, bytes2));
        // Same maths, summed in another order.
        assert!((loss - loss2).abs() < 1e-5, "{loss} vs {loss2}");
    }
}
