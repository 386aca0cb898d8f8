//! Low-rank adapters (LoRA) on a decoder's projections.
//!
//! An adapter on a projection `y = x W^T (+ b)` adds `s * (x A^T) B^T`,
//! with `A` `(rank, in)`, `B` `(out, rank)` and the scale `s` =
//! `alpha / rank` (LoRA) or `alpha / sqrt(rank)` (rsLoRA), as `peft`'s
//! `LoraLayer` computes it (`result + lora_B(lora_A(x)) * scaling`, no
//! dropout). This module only threads adapters through the forward; the
//! adapters' values, their initialisation and their training belong to the
//! caller (`w2s_train::lora`), which owns them as candle variables so that
//! gradients reach `A` and `B` and nothing else.

use candle_core::Tensor;

/// A projection of a decoder block that an adapter can wrap (Hugging
/// Face's `q_proj` ... `down_proj`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Query projection.
    Q,
    /// Key projection.
    K,
    /// Value projection.
    V,
    /// Attention output projection.
    O,
    /// MLP gate projection.
    Gate,
    /// MLP up projection.
    Up,
    /// MLP down projection.
    Down,
}

impl Target {
    /// Every target, in block order.
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// Position in [`Target::ALL`] (and in [`BlockAdapters`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The short name (`q`, ..., `down`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Q => "q",
            Target::K => "k",
            Target::V => "v",
            Target::O => "o",
            Target::Gate => "gate",
            Target::Up => "up",
            Target::Down => "down",
        }
    }

    /// The Hugging Face module name (`q_proj`, ...), as `peft` names
    /// `target_modules`.
    pub fn module(self) -> &'static str {
        match self {
            Target::Q => "q_proj",
            Target::K => "k_proj",
            Target::V => "v_proj",
            Target::O => "o_proj",
            Target::Gate => "gate_proj",
            Target::Up => "up_proj",
            Target::Down => "down_proj",
        }
    }

    /// The target named `name` (`q` ... `down`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One adapter: `A` `(rank, in)`, `B` `(out, rank)`, and the scale.
#[derive(Debug, Clone, Copy)]
pub struct Adapter<'a> {
    /// The down-projection `A`.
    pub a: &'a Tensor,
    /// The up-projection `B`.
    pub b: &'a Tensor,
    /// `alpha / rank` or `alpha / sqrt(rank)`.
    pub scale: f64,
}

/// The adapters of one block, indexed by [`Target::index`].
pub type BlockAdapters<'a> = [Option<Adapter<'a>>; 7];

/// A block without adapters.
pub const NO_ADAPTERS: BlockAdapters<'static> = [None; 7];

/// The adapter scale: `alpha / rank`, or `alpha / sqrt(rank)` for rsLoRA
/// (Kalajdzievski 2023; `peft`'s `use_rslora`).
pub fn scaling(rank: u32, alpha: f64, rslora: bool) -> f64 {
    if rslora {
        alpha / f64::from(rank).sqrt()
    } else {
        alpha / f64::from(rank)
    }
}

/// `(in, out)` of `target` for a model config.
pub fn target_shape(c: &crate::ModelConfig, target: Target) -> (usize, usize) {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let (q, kv) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
    match target {
        Target::Q => (h, q),
        Target::K | Target::V => (h, kv),
        Target::O => (q, h),
        Target::Gate | Target::Up => (h, i),
        Target::Down => (i, h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_scales_follow_peft() {
        for t in Target::ALL {
            assert_eq!(Target::from_name(t.name()), Some(t));
            assert_eq!(Target::ALL[t.index()], t);
        }
        // peft: scaling = lora_alpha / r, or lora_alpha / math.sqrt(r).
        assert_eq!(scaling(32, 32.0, false), 1.0);
        assert!((scaling(32, 32.0, true) - 32.0 / 32f64.sqrt()).abs() < 1e-12);
    }
}
