//! The task's strong language model and `lm-lora` students
//! (`w2s:strategy/lm`): the strong model itself, frozen, with trainable
//! low-rank adapters, as the AAR's and EleutherAI's sandboxes fine-tune
//! it. An `lm-lora` student is a [`Student`]: `train_step`, `predict`,
//! `forward`, `backward_step` and the rest work on it unchanged.
//!
//! ```no_run
//! use w2s_guest_sdk::lm::{self, LoraConfig};
//! use w2s_guest_sdk::{Student, task};
//!
//! // The AAR's vanilla setting: r = 32, alpha 32 (rsLoRA), all seven
//! // projections of every layer, the label tokens' logits as the readout.
//! let student = Student::create_lora(&LoraConfig::aar_vanilla(), task::seed());
//! # let _ = (student, lm::model());
//! ```

use crate::bindings::w2s::strategy::lm as wit;
use crate::error::Error;
use crate::student::Student;

pub use wit::LoraTarget as Target;
pub use wit::Readout;

/// Every projection, in block order.
pub const ALL_TARGETS: [Target; 7] = [
    Target::Q,
    Target::K,
    Target::V,
    Target::O,
    Target::Gate,
    Target::Up,
    Target::Down,
];

/// The configuration of an `lm-lora` student (WIT `lora-config`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Adapter rank.
    pub rank: u32,
    /// `lora_alpha`.
    pub alpha: f32,
    /// Scale by `alpha / sqrt(rank)` (rsLoRA) instead of `alpha / rank`.
    pub rslora: bool,
    /// Adapted projections.
    pub targets: Vec<Target>,
    /// Adapted decoder blocks; empty: every block.
    pub layers: Vec<u32>,
    /// How class logits are read off the last token.
    pub readout: Readout,
}

impl LoraConfig {
    /// Rank `rank`, `alpha = rank`, rsLoRA, every projection of every
    /// layer, label-token readout.
    pub fn new(rank: u32) -> Self {
        Self {
            rank,
            alpha: rank as f32,
            rslora: true,
            targets: ALL_TARGETS.to_vec(),
            layers: Vec::new(),
            readout: Readout::LabelTokens,
        }
    }

    /// The AAR's vanilla student: r = 32, alpha 32, rsLoRA on
    /// q/k/v/o/gate/up/down of every layer, answer-token readout.
    pub fn aar_vanilla() -> Self {
        Self::new(32)
    }

    /// The same with `alpha`.
    pub fn with_alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// The same with plain LoRA scaling (`alpha / rank`) when `false`.
    pub fn with_rslora(mut self, rslora: bool) -> Self {
        self.rslora = rslora;
        self
    }

    /// The same on these projections only.
    pub fn with_targets(mut self, targets: &[Target]) -> Self {
        self.targets = targets.to_vec();
        self
    }

    /// The same on these blocks only.
    pub fn with_layers(mut self, layers: &[u32]) -> Self {
        self.layers = layers.to_vec();
        self
    }

    /// The same with another readout.
    pub fn with_readout(mut self, readout: Readout) -> Self {
        self.readout = readout;
        self
    }

    pub(crate) fn to_wit(&self) -> wit::LoraConfig {
        wit::LoraConfig {
            rank: self.rank,
            alpha: self.alpha,
            rslora: self.rslora,
            targets: self.targets.clone(),
            layers: self.layers.clone(),
            readout: self.readout,
        }
    }

    fn from_wit(c: wit::LoraConfig) -> Self {
        Self {
            rank: c.rank,
            alpha: c.alpha,
            rslora: c.rslora,
            targets: c.targets,
            layers: c.layers,
            readout: c.readout,
        }
    }
}

/// The public description of the task's strong model.
pub type ModelInfo = wit::ModelInfo;
/// What the policy allows for `lm-lora` students.
pub type LoraLimit = wit::LoraLimit;

/// The task's strong model; `None` for a task not built from one.
pub fn model() -> Option<ModelInfo> {
    wit::model()
}

/// The policy's bounds; `None` when it allows no `lm-lora` student.
pub fn allowed() -> Option<LoraLimit> {
    wit::allowed_lora()
}

/// What one `train_step` of a student of `config` on `indices` costs, in
/// FLOPs (a forward is about a third of it).
pub fn train_step_flops(config: &LoraConfig, indices: &[u32]) -> Result<u64, Error> {
    Ok(wit::train_step_flops(&config.to_wit(), indices)?)
}

impl Student {
    /// A new `lm-lora` student: `A` drawn from `seed` by the host, `B`
    /// zero, so it starts as the strong model itself.
    pub fn create_lora(config: &LoraConfig, seed: u64) -> Result<Self, Error> {
        Ok(Self::from_handle(wit::create_lora(&config.to_wit(), seed)?))
    }

    /// This student's LoRA configuration; `None` for a head.
    pub fn lora_config(&self) -> Option<LoraConfig> {
        wit::lora_config_of(self.handle()).map(LoraConfig::from_wit)
    }
}
