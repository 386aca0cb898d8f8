//! Student architectures: heads over the task's frozen strong features.

use serde::{Deserialize, Serialize};

/// The architecture of a student head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arch {
    /// A linear probe: features -> classes.
    Linear,
    /// Features -> hidden (ReLU) -> classes.
    Mlp {
        /// Hidden width.
        hidden: u32,
    },
}

impl Arch {
    /// Shapes `(rows, cols)` of each dense layer's weight, input first.
    pub fn layer_shapes(self, in_dim: usize, classes: usize) -> Vec<(usize, usize)> {
        match self {
            Arch::Linear => vec![(in_dim, classes)],
            Arch::Mlp { hidden } => vec![(in_dim, hidden as usize), (hidden as usize, classes)],
        }
    }

    /// Number of trainable parameters (weights and biases).
    pub fn param_count(self, in_dim: usize, classes: usize) -> u64 {
        self.layer_shapes(in_dim, classes)
            .iter()
            .map(|&(i, o)| (i as u64 + 1) * o as u64)
            .sum()
    }

    /// Width of the representation that feeds the final layer.
    pub fn hidden_dim(self, in_dim: usize) -> usize {
        match self {
            Arch::Linear => in_dim,
            Arch::Mlp { hidden } => hidden as usize,
        }
    }

    /// Estimated floating-point operations of a forward pass over `rows`
    /// examples (two per multiply-add, plus the softmax).
    pub fn forward_flops(self, rows: usize, in_dim: usize, classes: usize) -> u64 {
        let dense: u64 = self
            .layer_shapes(in_dim, classes)
            .iter()
            .map(|&(i, o)| 2 * i as u64 * o as u64)
            .sum();
        rows as u64 * (dense + 5 * classes as u64)
    }

    /// Estimated floating-point operations of one fused train step over
    /// `rows` examples: forward, backward (twice the forward's matmuls) and
    /// an optimizer update (about 12 per parameter).
    pub fn train_step_flops(self, rows: usize, in_dim: usize, classes: usize) -> u64 {
        3 * self.forward_flops(rows, in_dim, classes) + 12 * self.param_count(in_dim, classes)
    }

    /// A short human name, e.g. `mlp(128)`.
    pub fn describe(self) -> String {
        match self {
            Arch::Linear => "linear".to_owned(),
            Arch::Mlp { hidden } => format!("mlp({hidden})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_counts() {
        assert_eq!(Arch::Linear.param_count(10, 3), 33);
        assert_eq!(Arch::Mlp { hidden: 4 }.param_count(10, 3), 44 + 15);
    }

    #[test]
    fn serde_round_trip() {
        let a = Arch::Mlp { hidden: 64 };
        let s = serde_json::to_string(&a).unwrap();
        assert_eq!(s, r#"{"kind":"mlp","hidden":64}"#);
        assert_eq!(serde_json::from_str::<Arch>(&s).unwrap(), a);
    }
}
