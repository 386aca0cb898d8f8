//! The fixed `lm-lora` training recipe: what `plugins/lora-vanilla` does
//! in the sandbox, natively, for the ceiling baseline (the same recipe on
//! the pool's ground truth).
//!
//! Step for step: the adapters from `seed`; AdamW (weight decay 0.01,
//! betas 0.9/0.999, eps 1e-8); per epoch a permutation of the pool from
//! the stream `"shuffle"` of `seed`, cut into batches (the last keeps the
//! remainder); the learning rate warms up linearly over the first
//! `ceil(warmup * total)` steps (at least one) and then decays linearly to
//! 0 at the last step ([`schedule`]); every weight 1.

use std::sync::Arc;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use sha2::Digest;

use crate::error::{Result, TrainError};
use crate::lora::tokens::TokenSet;
use crate::lora::{Backbone, LoraSpec, LoraStudent};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::rng::Rng;

/// An `lm-lora` recipe: the student and its training schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraRecipe {
    /// Peak learning rate.
    pub lr: f32,
    /// Examples per step.
    pub batch: u32,
    /// Passes over the pool.
    pub epochs: u32,
    /// Fraction of all steps spent warming up.
    pub warmup: f32,
    /// The student (last: a TOML table).
    pub spec: LoraSpec,
}

/// The learning rate at `step` (0-based): linear warmup over `warm` steps,
/// then linear decay to 0 at `total` (`plugins/lora-vanilla` computes the
/// same in f32).
pub fn schedule(lr: f32, step: u64, warm: u64, total: u64) -> f32 {
    if step < warm {
        lr * (step + 1) as f32 / warm as f32
    } else {
        let left = total.saturating_sub(step) as f32;
        let span = total.saturating_sub(warm).max(1) as f32;
        lr * left / span
    }
}

impl LoraRecipe {
    /// The AAR's vanilla setting on a model of `num_layers` blocks: r = 32,
    /// alpha 32, rsLoRA on the seven projections of every block, the
    /// label-token readout; lr 1e-4, batch 32, 5 epochs, 10% warmup.
    pub fn aar_vanilla(num_layers: usize) -> Self {
        Self {
            lr: 1e-4,
            batch: 32,
            epochs: 5,
            warmup: 0.1,
            spec: LoraSpec {
                rank: 32,
                alpha: 32.0,
                rslora: true,
                targets: w2s_lm::lora::Target::ALL.to_vec(),
                layers: (0..num_layers as u32).collect(),
                readout: crate::lora::Readout::LabelTokens,
            },
        }
    }

    /// A short id for caches: the sha256 of the recipe's JSON.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).expect("a recipe serializes");
        hex::encode(sha2::Sha256::digest(&json))[..16].to_owned()
    }

    /// Steps of a run over `n` examples.
    pub fn total_steps(&self, n: usize) -> u64 {
        u64::from(self.epochs) * n.div_ceil(self.batch.max(1) as usize) as u64
    }

    /// Trains a student from `seed` on the rows of `tokens` with soft
    /// `targets` (row-major `n * classes`); `on_step(step, total)` after
    /// every step.
    pub fn train(
        &self,
        backbone: Arc<Backbone>,
        tokens: &TokenSet,
        targets: &[f32],
        seed: u64,
        on_step: &mut dyn FnMut(u64, u64),
    ) -> Result<LoraStudent> {
        let (n, classes) = (tokens.len(), backbone.classes());
        if targets.len() != n * classes || self.batch == 0 || self.epochs == 0 {
            return Err(TrainError::invalid(
                "recipe",
                "targets must be n * classes values; batch and epochs positive",
            ));
        }
        let device = backbone.device().clone();
        let mut student = LoraStudent::init(backbone, self.spec.clone(), seed)?;
        let mut opt = Optimizer::new(OptimizerConfig::adamw(self.lr))?;
        let mut rng = Rng::for_stream(seed, "shuffle");
        let total = self.total_steps(n);
        let warm = ((total as f64 * f64::from(self.warmup)).ceil() as u64).max(1);
        let mut step = 0;
        for _ in 0..self.epochs {
            let order = rng.permutation(n);
            for batch in order.chunks(self.batch as usize) {
                opt.set_learning_rate(schedule(self.lr, step, warm, total))?;
                let rows = tokens.batch(batch);
                let t: Vec<f32> = batch
                    .iter()
                    .flat_map(|&i| targets[i as usize * classes..][..classes].iter().copied())
                    .collect();
                let t = Tensor::from_vec(t, (batch.len(), classes), &device)?;
                let w = Tensor::ones(batch.len(), candle_core::DType::F32, &device)?;
                student.train_step(&mut opt, &rows, &t, &w)?;
                step += 1;
                on_step(step, total);
            }
        }
        Ok(student)
    }
}

/// Class probabilities of `student` on every row of `tokens`, row-major,
/// in batches of `chunk` rows.
pub fn predict_all(student: &LoraStudent, tokens: &TokenSet, chunk: usize) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(tokens.len() * student.backbone().classes());
    let all: Vec<u32> = (0..tokens.len() as u32).collect();
    for rows in all.chunks(chunk.max(1)) {
        let p = student.predict(&tokens.batch(rows))?;
        out.extend(p.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}
