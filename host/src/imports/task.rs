//! `w2s:strategy/task`: the public view of the task.

use w2s_policy::ArchFamily;

use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::task;
use crate::imports::gate::{Deadline, list};
use crate::imports::{WitResult, refusal, too_many_indices, wit};
use crate::state::HostState;

impl HostState {
    /// Checks an index list: at most `max_indices_per_call` values, each
    /// inside the pool. Cheap, so it runs before anything is charged.
    pub(crate) fn check_indices(&self, indices: &[u32]) -> Result<(), wit::Error> {
        let max = self.policy.host().max_indices_per_call;
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

    /// Checks that a list or tensor of `rows` x `cols` values fits
    /// `max_elements_per_call`.
    pub(crate) fn check_elements(
        &self,
        what: &str,
        rows: usize,
        cols: usize,
    ) -> Result<(), wit::Error> {
        let max = self.policy.host().max_elements_per_call;
        let n = (rows as u64).saturating_mul(cols as u64);
        if n > max {
            return Err(refusal(
                wit::ErrorCode::InvalidArgument,
                format!("`{what}`: {rows} x {cols} values in one call, over the limit of {max}"),
            ));
        }
        Ok(())
    }
}

const NAME: &str = "w2s:strategy/task.name";
const SEED: &str = "w2s:strategy/task.seed";
const NUM_CLASSES: &str = "w2s:strategy/task.num-classes";
const POOL_SIZE: &str = "w2s:strategy/task.pool-size";
const FEATURE_DIM: &str = "w2s:strategy/task.feature-dim";
const WEAK_LABELS: &str = "w2s:strategy/task.weak-labels";
const ALLOWED: &str = "w2s:strategy/task.allowed-architectures";

impl task::Host for HostState {
    fn name(&mut self) -> wasmtime::Result<String> {
        self.audited(NAME, Deadline::Check, Vec::new, |s| {
            Ok(s.task.manifest.name.clone())
        })
    }

    fn seed(&mut self) -> wasmtime::Result<u64> {
        self.audited(SEED, Deadline::Check, Vec::new, |s| Ok(s.seed))
    }

    fn num_classes(&mut self) -> wasmtime::Result<u32> {
        self.audited(NUM_CLASSES, Deadline::Check, Vec::new, |s| {
            Ok(s.task.manifest.classes)
        })
    }

    fn pool_size(&mut self) -> wasmtime::Result<u32> {
        self.audited(POOL_SIZE, Deadline::Check, Vec::new, |s| {
            Ok(s.task.manifest.splits.pool)
        })
    }

    fn feature_dim(&mut self) -> wasmtime::Result<u32> {
        self.audited(FEATURE_DIM, Deadline::Check, Vec::new, |s| {
            Ok(s.task.manifest.feature_dim)
        })
    }

    fn weak_labels(&mut self, indices: Vec<u32>) -> WitResult<Vec<f32>> {
        let n = indices.len();
        self.audited(
            WEAK_LABELS,
            Deadline::Check,
            || vec![("indices", list(n))],
            |s| {
                if let Err(e) = s.check_indices(&indices) {
                    return Ok(Err(e));
                }
                let k = s.task.classes();
                if let Err(e) = s.check_elements("result", indices.len(), k) {
                    return Ok(Err(e));
                }
                let mut out = Vec::with_capacity(indices.len() * k);
                for &i in &indices {
                    let row = i as usize * k..(i as usize + 1) * k;
                    // A task opened through `PublicTask::open` always has the row.
                    let row = s.task.weak_probs.get(row).ok_or(HostTrap::Internal {
                        what: "weak-labels",
                    })?;
                    out.extend_from_slice(row);
                }
                Ok(Ok(out))
            },
        )
    }

    fn allowed_architectures(&mut self) -> wasmtime::Result<Vec<wit::ArchLimit>> {
        self.audited(ALLOWED, Deadline::Check, Vec::new, |s| {
            Ok(s.policy
                .students()
                .allow
                .iter()
                // `lm_lora` is never in `allow` (it is `students.lora`,
                // read through `lm.allowed-lora`).
                .filter_map(|a| {
                    let family = match a.family {
                        ArchFamily::Linear => wit::ArchFamily::Linear,
                        ArchFamily::Mlp => wit::ArchFamily::Mlp,
                        ArchFamily::LmLora => return None,
                    };
                    Some(wit::ArchLimit {
                        family,
                        max_hidden: a.max_hidden,
                    })
                })
                .collect())
        })
    }
}
