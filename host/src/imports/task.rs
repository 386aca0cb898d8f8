//! `w2s:strategy/task`: the public view of the task.

use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::task;
use crate::imports::{WitResult, refusal, too_many_indices, wit};
use crate::limits::ArchFamily;
use crate::state::HostState;

impl HostState {
    /// Checks an index list: at most `max_indices_per_call` values, each
    /// inside the pool. Cheap, so it runs before anything is charged.
    pub(crate) fn check_indices(&self, indices: &[u32]) -> Result<(), wit::Error> {
        let max = self.limits.max_indices_per_call;
        if indices.len() > max as usize {
            return Err(too_many_indices(indices.len(), max));
        }
        let pool = self.task.pool_size();
        if let Some(pos) = indices.iter().position(|&i| i as usize >= pool) {
            return Err(refusal(
                wit::ErrorCode::InvalidArgument,
                format!(
                    "`indices`: index {} at position {pos} is outside the pool (size {pool})",
                    indices[pos]
                ),
            ));
        }
        Ok(())
    }
}

impl task::Host for HostState {
    fn name(&mut self) -> wasmtime::Result<String> {
        self.meters.enter()?;
        Ok(self.task.manifest.name.clone())
    }

    fn seed(&mut self) -> wasmtime::Result<u64> {
        self.meters.enter()?;
        Ok(self.seed)
    }

    fn num_classes(&mut self) -> wasmtime::Result<u32> {
        self.meters.enter()?;
        Ok(self.task.manifest.classes)
    }

    fn pool_size(&mut self) -> wasmtime::Result<u32> {
        self.meters.enter()?;
        Ok(self.task.manifest.splits.pool)
    }

    fn feature_dim(&mut self) -> wasmtime::Result<u32> {
        self.meters.enter()?;
        Ok(self.task.manifest.feature_dim)
    }

    fn weak_labels(&mut self, indices: Vec<u32>) -> WitResult<Vec<f32>> {
        self.meters.enter()?;
        if let Err(e) = self.check_indices(&indices) {
            return Ok(Err(e));
        }
        let k = self.task.classes();
        let mut out = Vec::with_capacity(indices.len() * k);
        for &i in &indices {
            let row = i as usize * k..(i as usize + 1) * k;
            // A task opened through `PublicTask::open` always has the row.
            let row = self.task.weak_probs.get(row).ok_or(HostTrap::Internal {
                what: "weak-labels",
            })?;
            out.extend_from_slice(row);
        }
        Ok(Ok(out))
    }

    fn allowed_architectures(&mut self) -> wasmtime::Result<Vec<wit::ArchLimit>> {
        self.meters.enter()?;
        Ok(self
            .limits
            .allowed_archs
            .iter()
            .map(|a| wit::ArchLimit {
                family: match a.family {
                    ArchFamily::Linear => wit::ArchFamily::Linear,
                    ArchFamily::Mlp => wit::ArchFamily::Mlp,
                },
                max_hidden: a.max_hidden,
            })
            .collect())
    }
}
