//! The weak teacher: a logistic probe on the weak model's features.
//!
//! The probe is multinomial logistic regression (w2s's linear head with
//! softmax cross-entropy) trained with AdamW on the labeled split only,
//! after standardizing each feature with the labeled split's mean and
//! standard deviation (hidden states of real models have a few very large
//! dimensions; without it, one learning rate cannot suit them all). A
//! logistic probe is what EleutherAI's w2s uses for its weak-teacher
//! probes; it is also the synthetic tasks' teacher recipe (lr 1e-2, 30
//! epochs, batches of 64), whose settings are the defaults here.

use candle_core::{Device, Tensor};
use serde::Serialize;
use w2s_train::arch::Arch;
use w2s_train::optim::OptimizerConfig;
use w2s_train::recipe::{self, Recipe};

use crate::error::{BuildError, Result};

/// The probe's settings (all written into the bundle's provenance).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProbeSettings {
    /// Passes over the labeled split (default 30).
    pub epochs: u32,
    /// AdamW learning rate (default 1e-2; weight decay 0.01).
    pub learning_rate: f32,
    /// Examples per step (default 64).
    pub batch_size: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            epochs: 30,
            learning_rate: 1e-2,
            batch_size: 64,
        }
    }
}

impl ProbeSettings {
    /// The training recipe these settings name.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            arch: Arch::Linear,
            optimizer: OptimizerConfig::adamw(self.learning_rate),
            epochs: self.epochs,
            batch_size: self.batch_size,
        }
    }
}

/// Per-feature standardization `(x - mean) / std`, fitted on some rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

impl Standardizer {
    /// Fits the mean and standard deviation of each column of `x` `(n,
    /// dim)`; a constant column keeps its scale (std taken as 1).
    pub fn fit(x: &[f32], dim: usize) -> Self {
        let n = (x.len() / dim).max(1) as f64;
        let mut mean = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let inv_std = var
            .iter()
            .map(|s| {
                let std = (s / n).sqrt();
                if std > 1e-12 { (1.0 / std) as f32 } else { 1.0 }
            })
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            inv_std,
        }
    }

    /// Standardizes the rows of `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        for row in x.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.inv_std) {
                *v = (*v - m) * s;
            }
        }
    }
}

/// A trained weak probe.
pub struct WeakProbe {
    head: w2s_train::Head,
    scale: Standardizer,
    dim: usize,
    /// Its accuracy on the split it was trained on.
    pub train_acc: f64,
}

impl WeakProbe {
    /// Trains on `features` `(n, dim)` with `labels` (each below
    /// `classes`), initial weights and shuffles from `seed`.
    pub fn train(
        features: &[f32],
        dim: usize,
        labels: &[u32],
        classes: usize,
        settings: &ProbeSettings,
        seed: u64,
    ) -> Result<Self> {
        if settings.epochs == 0
            || settings.batch_size == 0
            || settings.learning_rate.is_nan()
            || settings.learning_rate <= 0.0
        {
            return Err(BuildError::invalid(
                "weak probe",
                "epochs, batch size and learning rate must be positive",
            ));
        }
        let scale = Standardizer::fit(features, dim);
        let x = standardized(&scale, features, dim)?;
        let targets = recipe::one_hot(labels, classes);
        let head = settings
            .recipe()
            .train(&x, &targets, classes, seed, &mut |_, _| {})?;
        let train_acc = recipe::accuracy(&recipe::predict_all(&head, &x, 4096)?, classes, labels);
        Ok(Self {
            head,
            scale,
            dim,
            train_acc,
        })
    }

    /// Class probabilities for `features` `(n, dim)`, row-major.
    pub fn predict(&self, features: &[f32]) -> Result<Vec<f32>> {
        let x = standardized(&self.scale, features, self.dim)?;
        Ok(recipe::predict_all(&self.head, &x, 4096)?)
    }
}

fn standardized(scale: &Standardizer, features: &[f32], dim: usize) -> Result<Tensor> {
    let mut x = features.to_vec();
    scale.apply(&mut x);
    Ok(Tensor::from_vec(
        x,
        (features.len() / dim, dim),
        &Device::Cpu,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardized_columns_have_zero_mean_and_unit_variance() {
        let mut x = vec![1.0, 10.0, 3.0, 10.0, 5.0, 10.0];
        let s = Standardizer::fit(&x, 2);
        s.apply(&mut x);
        // Column 0 is 1, 3, 5: mean 3, population std sqrt(8/3).
        let z = (8f32 / 3.0).sqrt();
        for (a, b) in x.iter().zip([-2.0 / z, 0.0, 0.0, 0.0, 2.0 / z, 0.0]) {
            assert!((a - b).abs() < 1e-6, "{x:?}");
        }
    }

    #[test]
    fn the_probe_learns_a_separable_rule() {
        // Class = sign of feature 0 (scaled by 100, as hidden states can be).
        let n = 200;
        let features: Vec<f32> = (0..n)
            .flat_map(|i| [100.0 * ((i as f32 * 0.37).sin()), (i % 7) as f32])
            .collect();
        let labels: Vec<u32> = (0..n)
            .map(|i| u32::from((i as f32 * 0.37).sin() > 0.0))
            .collect();
        let p = WeakProbe::train(&features, 2, &labels, 2, &ProbeSettings::default(), 1).unwrap();
        assert!(p.train_acc > 0.95, "{}", p.train_acc);
        let probs = p.predict(&features[..4]).unwrap();
        assert_eq!(probs.len(), 4);
    }
}
