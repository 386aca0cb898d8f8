//! Validation of the `lm_lora` entry of `students.allow`.

use std::collections::BTreeSet;

use crate::LoraLimit;
use crate::caps::HARD_MAX_LORA_RANK;
use crate::error::PolicyError;
use crate::file::{ArchRule, LoraTarget};

/// The `lm_lora` rule: `max_rank` required and bounded, layers and
/// targets non-empty and without repeats.
pub(crate) fn lora_limit(rule: &ArchRule, field: &str) -> Result<LoraLimit, PolicyError> {
    if rule.max_hidden.is_some() {
        return Err(PolicyError::Invalid {
            field: format!("{field}.max_hidden"),
            reason: "`lm_lora` has no hidden layer; bound it with `max_rank`".to_owned(),
        });
    }
    let max_rank = match rule.max_rank {
        None => {
            return Err(PolicyError::Invalid {
                field: format!("{field}.max_rank"),
                reason: "`lm_lora` needs `max_rank`, the largest adapter rank allowed".to_owned(),
            });
        }
        Some(r) if r == 0 || r > HARD_MAX_LORA_RANK => {
            return Err(PolicyError::Invalid {
                field: format!("{field}.max_rank"),
                reason: format!("{r} is outside 1..={HARD_MAX_LORA_RANK}"),
            });
        }
        Some(r) => r,
    };
    let layers = match &rule.layers {
        None => None,
        Some(l) if l.is_empty() => {
            return Err(PolicyError::Invalid {
                field: format!("{field}.layers"),
                reason: "is empty; leave it out to allow every layer".to_owned(),
            });
        }
        Some(l) => {
            let set: BTreeSet<u32> = l.iter().copied().collect();
            if set.len() != l.len() {
                return Err(PolicyError::Invalid {
                    field: format!("{field}.layers"),
                    reason: "lists a layer twice".to_owned(),
                });
            }
            Some(set.into_iter().collect())
        }
    };
    let targets = match &rule.targets {
        None => LoraTarget::ALL.to_vec(),
        Some(t) if t.is_empty() => {
            return Err(PolicyError::Invalid {
                field: format!("{field}.targets"),
                reason: "is empty; leave it out to allow all seven projections".to_owned(),
            });
        }
        Some(t) => {
            let set: BTreeSet<LoraTarget> = t.iter().copied().collect();
            if set.len() != t.len() {
                return Err(PolicyError::Invalid {
                    field: format!("{field}.targets"),
                    reason: "lists a projection twice".to_owned(),
                });
            }
            set.into_iter().collect()
        }
    };
    Ok(LoraLimit {
        max_rank,
        layers,
        targets,
    })
}
