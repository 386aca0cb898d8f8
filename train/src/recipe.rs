//! The fixed supervised training recipe.
//!
//! One recipe trains the ceiling (on the pool's ground truth), the weak
//! teacher (on its own labeled split, over a degraded view) and the native
//! reference strategies. Keeping it in one place, with a stable [`id`],
//! lets caches key on it and keeps `plugins/vanilla` comparable with the
//! ceiling: the plugin follows the same recipe, only on weak labels.
//!
//! [`id`]: Recipe::id

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::error::{Result, TrainError};
use crate::head::Head;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::rng::Rng;

/// A supervised training recipe: architecture, optimizer, epochs, batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Student architecture.
    pub arch: Arch,
    /// Optimizer and its hyperparameters.
    pub optimizer: OptimizerConfig,
    /// Passes over the training set.
    pub epochs: u32,
    /// Examples per step.
    pub batch_size: u32,
}

impl Recipe {
    /// The reference recipe: MLP(128), AdamW lr 1e-3 (PyTorch defaults
    /// otherwise), 20 epochs of batches of 128, a fresh shuffle per epoch.
    /// `plugins/vanilla` follows it step for step.
    pub fn reference() -> Self {
        Self {
            arch: Arch::Mlp { hidden: 128 },
            optimizer: OptimizerConfig::adamw(1e-3),
            epochs: 20,
            batch_size: 128,
        }
    }

    /// A stable identifier of everything that shapes the result, for cache
    /// keys and reports.
    pub fn id(&self) -> String {
        serde_json::to_string(self).expect("Recipe serializes")
    }

    /// Optimizer steps for `n` examples.
    pub fn total_steps(&self, n: usize) -> u64 {
        u64::from(self.epochs) * n.div_ceil(self.batch_size as usize) as u64
    }

    /// Trains a head from `seed` on `features` `(n, dim)` with soft targets
    /// (row-major `n * classes`). The head's initial weights come from
    /// `seed`; the epoch shuffles from the stream `"shuffle"` of `seed`.
    /// `on_step` is called after every step with (step, total steps).
    pub fn train(
        &self,
        features: &Tensor,
        targets: &[f32],
        classes: usize,
        seed: u64,
        on_step: &mut dyn FnMut(u64, u64),
    ) -> Result<Head> {
        let (n, dim) = features.dims2()?;
        if targets.len() != n * classes {
            return Err(TrainError::invalid(
                "targets",
                format!("expected {} values, got {}", n * classes, targets.len()),
            ));
        }
        if self.batch_size == 0 || self.epochs == 0 {
            return Err(TrainError::invalid(
                "recipe",
                "epochs and batch_size must be positive",
            ));
        }
        let device = features.device();
        let targets = Tensor::from_slice(targets, (n, classes), device)?;
        let mut head = Head::init(self.arch, dim, classes, seed, device)?;
        let mut opt = Optimizer::new(self.optimizer)?;
        let mut rng = Rng::for_stream(seed, "shuffle");
        let total = self.total_steps(n);
        let mut step = 0;
        for _ in 0..self.epochs {
            let order = rng.permutation(n);
            for batch in order.chunks(self.batch_size as usize) {
                let ix = Tensor::from_slice(batch, batch.len(), device)?;
                let x = features.index_select(&ix, 0)?;
                let t = targets.index_select(&ix, 0)?;
                let w = Tensor::ones(batch.len(), candle_core::DType::F32, device)?;
                head.train_step(&mut opt, &x, &t, &w)?;
                step += 1;
                on_step(step, total);
            }
        }
        Ok(head)
    }
}

/// One-hot rows for `labels`, row-major.
pub fn one_hot(labels: &[u32], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        out[i * classes + l as usize] = 1.0;
    }
    out
}

/// Index of the largest value of each row (first on ties).
pub fn argmax_rows(probs: &[f32], classes: usize) -> Vec<u32> {
    probs
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (c, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = c;
                }
            }
            best as u32
        })
        .collect()
}

/// Fraction of rows whose argmax equals the label.
pub fn accuracy(probs: &[f32], classes: usize, labels: &[u32]) -> f64 {
    let predicted = argmax_rows(probs, classes);
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    correct as f64 / labels.len().max(1) as f64
}

/// Class probabilities of `head` on `features`, row-major, in chunks of
/// `chunk` rows (bounded memory on large splits).
pub fn predict_all(head: &Head, features: &Tensor, chunk: usize) -> Result<Vec<f32>> {
    let (n, _) = features.dims2()?;
    let mut out = Vec::with_capacity(n * head.classes());
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let probs = head.predict(&features.narrow(0, start, len)?)?;
        out.extend(probs.flatten_all()?.to_vec1::<f32>()?);
        start += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn learns_a_linearly_separable_problem() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(2);
        let n = 512;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let a = rng.normal() as f32;
            let b = rng.normal() as f32;
            x.extend([a, b]);
            y.push(u32::from(a + b > 0.0));
        }
        let features = Tensor::from_vec(x, (n, 2), &dev).unwrap();
        let recipe = Recipe {
            epochs: 10,
            ..Recipe::reference()
        };
        let head = recipe
            .train(&features, &one_hot(&y, 2), 2, 1, &mut |_, _| {})
            .unwrap();
        let acc = accuracy(&predict_all(&head, &features, 100).unwrap(), 2, &y);
        assert!(acc > 0.95, "accuracy {acc}");
    }

    #[test]
    fn training_is_deterministic() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(4);
        let x: Vec<f32> = (0..64 * 3).map(|_| rng.normal() as f32).collect();
        let y: Vec<u32> = (0..64).map(|i| i % 3).collect();
        let features = Tensor::from_vec(x, (64, 3), &dev).unwrap();
        let recipe = Recipe {
            epochs: 2,
            batch_size: 16,
            ..Recipe::reference()
        };
        let run = || {
            let h = recipe
                .train(&features, &one_hot(&y, 3), 3, 7, &mut |_, _| {})
                .unwrap();
            predict_all(&h, &features, 64).unwrap()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(argmax_rows(&[0.5, 0.5, 0.1, 0.9], 2), vec![0, 1]);
    }
}
