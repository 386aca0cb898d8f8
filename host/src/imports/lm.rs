//! `w2s:strategy/lm`: the task's strong model, and `lm-lora` students.
//!
//! The backbone is the task's ([`w2s_train::bundle::PublicTask::backbone`]):
//! loaded once per evaluation, its hashes checked, shared read-only by
//! every run and seed through an `Arc`. A student holds the `Arc` and its
//! own adapters; creating one charges its parameters to tensor memory like
//! a head. The `student` methods branch to [`crate::imports::lm_student`]
//! for these students.

use serde_json::json;
use w2s_lm::lora::Target;
use w2s_policy::LoraTarget;
use w2s_train::lora::{LoraSpec, LoraStudent, Readout};
use wasmtime::component::Resource;

use crate::imports::bindings::w2s::strategy::lm;
use crate::imports::gate::{Deadline, list};
use crate::imports::student::{StudentEntry, StudentModel};
use crate::imports::{WitResult, refusal, train_refusal, wit};
use crate::state::HostState;

const MODEL: &str = "w2s:strategy/lm.model";
const ALLOWED: &str = "w2s:strategy/lm.allowed-lora";
const STEP_FLOPS: &str = "w2s:strategy/lm.train-step-flops";
const CREATE: &str = "w2s:strategy/lm.create-lora";
const CONFIG: &str = "w2s:strategy/lm.lora-config-of";

fn target_from_wit(t: lm::LoraTarget) -> Target {
    match t {
        lm::LoraTarget::Q => Target::Q,
        lm::LoraTarget::K => Target::K,
        lm::LoraTarget::V => Target::V,
        lm::LoraTarget::O => Target::O,
        lm::LoraTarget::Gate => Target::Gate,
        lm::LoraTarget::Up => Target::Up,
        lm::LoraTarget::Down => Target::Down,
    }
}

fn target_to_wit(t: Target) -> lm::LoraTarget {
    match t {
        Target::Q => lm::LoraTarget::Q,
        Target::K => lm::LoraTarget::K,
        Target::V => lm::LoraTarget::V,
        Target::O => lm::LoraTarget::O,
        Target::Gate => lm::LoraTarget::Gate,
        Target::Up => lm::LoraTarget::Up,
        Target::Down => lm::LoraTarget::Down,
    }
}

/// The policy's name for a target (the two enums list the same seven).
fn policy_target(t: Target) -> LoraTarget {
    LoraTarget::ALL[t.index()]
}

fn spec_to_wit(s: &LoraSpec) -> lm::LoraConfig {
    lm::LoraConfig {
        rank: s.rank,
        alpha: s.alpha,
        rslora: s.rslora,
        targets: s.targets.iter().map(|&t| target_to_wit(t)).collect(),
        layers: s.layers.clone(),
        readout: match s.readout {
            Readout::LabelTokens => lm::Readout::LabelTokens,
            Readout::LinearHead => lm::Readout::LinearHead,
        },
    }
}

impl HostState {
    /// The spec of `config`, normalized against the task's model and
    /// checked against the policy: a WIT error for anything refused.
    pub(crate) fn lora_spec(&self, config: &lm::LoraConfig) -> Result<LoraSpec, wit::Error> {
        let Some(bb) = &self.task.backbone else {
            return Err(refusal(
                wit::ErrorCode::NotAllowed,
                "this task has no strong language model",
            ));
        };
        let Some(limit) = &self.policy.students().lora else {
            return Err(refusal(
                wit::ErrorCode::NotAllowed,
                "the policy does not allow lm-lora students",
            ));
        };
        let layers = if config.layers.is_empty() {
            (0..bb.config().num_layers as u32).collect()
        } else {
            config.layers.clone()
        };
        let spec = LoraSpec {
            rank: config.rank,
            alpha: config.alpha,
            rslora: config.rslora,
            targets: config.targets.iter().map(|&t| target_from_wit(t)).collect(),
            layers,
            readout: match config.readout {
                lm::Readout::LabelTokens => Readout::LabelTokens,
                lm::Readout::LinearHead => Readout::LinearHead,
            },
        };
        let spec = spec.normalized(bb.config()).map_err(|e| match e {
            w2s_train::TrainError::InvalidArgument { what, reason } => refusal(
                wit::ErrorCode::InvalidArgument,
                format!("`{what}`: {reason}"),
            ),
            _ => refusal(wit::ErrorCode::InvalidArgument, "invalid lora-config"),
        })?;
        let targets: Vec<LoraTarget> = spec.targets.iter().map(|&t| policy_target(t)).collect();
        if !limit.allows(spec.rank, &spec.layers, &targets) {
            return Err(refusal(
                wit::ErrorCode::NotAllowed,
                format!("{} is not allowed by the policy", spec.describe()),
            ));
        }
        Ok(spec)
    }

    /// Registers an `lm-lora` student (a new one or a copy), charging a
    /// handle and its parameters' memory; the caller charged the compute
    /// (one operation per parameter) before making it.
    pub(crate) fn add_lora_student(
        &mut self,
        student: LoraStudent,
    ) -> wasmtime::Result<Resource<StudentEntry>> {
        let params = student.param_count();
        self.meters.open_handle()?;
        let bytes = params * 4;
        self.meters.alloc_tensor(bytes)?;
        let id = self.next_student_id;
        self.next_student_id += 1;
        let _live = self.live.guard();
        Ok(self.table.push(StudentEntry {
            id,
            model: StudentModel::Lora(student),
            vars: None,
            bytes,
            _live,
        })?)
    }
}

impl lm::Host for HostState {
    fn model(&mut self) -> wasmtime::Result<Option<lm::ModelInfo>> {
        self.audited(MODEL, Deadline::Check, Vec::new, |s| {
            let (Some(bb), Some(section)) = (&s.task.backbone, &s.task.manifest.lm) else {
                return Ok(None);
            };
            let c = bb.config();
            Ok(Some(lm::ModelInfo {
                name: section.model.clone(),
                family: c.family.to_string(),
                num_layers: c.num_layers as u32,
                hidden_size: c.hidden_size as u32,
                intermediate_size: c.intermediate_size as u32,
                num_heads: c.num_heads as u32,
                num_kv_heads: c.num_kv_heads as u32,
                projection_parameters: bb.projection_params(),
                label_tokens: section.label_tokens.clone(),
                max_seq_len: section.max_seq_len,
            }))
        })
    }

    fn allowed_lora(&mut self) -> wasmtime::Result<Option<lm::LoraLimit>> {
        self.audited(ALLOWED, Deadline::Check, Vec::new, |s| {
            Ok(s.policy.students().lora.as_ref().map(|l| lm::LoraLimit {
                max_rank: l.max_rank,
                layers: l.layers.clone().unwrap_or_default(),
                targets: l
                    .targets
                    .iter()
                    .filter_map(|t| Target::from_name(t.name()).map(target_to_wit))
                    .collect(),
            }))
        })
    }

    fn train_step_flops(&mut self, config: lm::LoraConfig, indices: Vec<u32>) -> WitResult<u64> {
        let n = indices.len();
        self.audited(
            STEP_FLOPS,
            Deadline::Check,
            || vec![("indices", list(n))],
            |s| {
                let spec = match s.lora_spec(&config) {
                    Ok(spec) => spec,
                    Err(e) => return Ok(Err(e)),
                };
                if let Err(e) = s.check_indices(&indices) {
                    return Ok(Err(e));
                }
                let (Some(bb), Some(tokens)) = (&s.task.backbone, &s.task.pool_tokens) else {
                    return Ok(Err(refusal(wit::ErrorCode::NotAllowed, "no strong model")));
                };
                let seq = tokens.padded_len(&indices);
                Ok(Ok(bb.train_step_flops(&spec, indices.len(), seq)))
            },
        )
    }

    fn create_lora(
        &mut self,
        config: lm::LoraConfig,
        seed: u64,
    ) -> WitResult<Resource<StudentEntry>> {
        let args = || {
            vec![
                ("rank", json!(config.rank)),
                ("alpha", json!(config.alpha)),
                ("seed", json!(seed)),
            ]
        };
        self.audited(CREATE, Deadline::Check, args, |s| {
            let spec = match s.lora_spec(&config) {
                Ok(spec) => spec,
                Err(e) => return Ok(Err(e)),
            };
            let Some(bb) = s.task.backbone.clone() else {
                return Ok(Err(refusal(wit::ErrorCode::NotAllowed, "no strong model")));
            };
            // Charged before the draw: one operation per parameter.
            let count = spec.param_count(bb.config(), bb.classes());
            s.meters.charge_flops(count)?;
            match LoraStudent::init(bb, spec, seed) {
                Ok(student) => Ok(Ok(s.add_lora_student(student)?)),
                Err(e) => Ok(Err(train_refusal(e, "create-lora")?)),
            }
        })
    }

    fn lora_config_of(
        &mut self,
        student: Resource<StudentEntry>,
    ) -> wasmtime::Result<Option<lm::LoraConfig>> {
        self.audited(CONFIG, Deadline::Check, Vec::new, |s| {
            Ok(s.table.get(&student)?.lora().map(|l| spec_to_wit(l.spec())))
        })
    }
}

#[cfg(test)]
#[path = "lm_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hostile_numbers_tests.rs"]
mod hostile_numbers_tests;
