//! `lm-lora` students: the task's strong language model, frozen, with
//! low-rank adapters (LoRA) on some of its projections and a readout of
//! the last real token.
//!
//! - The backbone ([`Backbone`]) is loaded once and shared read-only
//!   (`Arc`) by every student of an evaluation; its tensors are plain
//!   candle tensors, never variables, so no gradient is ever computed for
//!   them and nothing can change them.
//! - The trainable parameters are, in this order: for each adapted layer
//!   (ascending) and each target (block order `q k v o gate up down`),
//!   `A` `(rank, in)` then `B` `(out, rank)`; then, for the `linear-head`
//!   readout, `W` `(hidden, classes)` and `b` `(classes)`.
//! - Initialisation follows `peft`'s default (`init_lora_weights=True`):
//!   `A` uniform in `±1/sqrt(in)` (kaiming-uniform with `a = sqrt(5)`),
//!   `B = 0`, so a fresh student computes exactly the backbone's function;
//!   the head like PyTorch's `nn.Linear`. Every value comes from the
//!   crate's seeded [`Rng`], never from candle's unseeded one.
//! - Readouts: `label-tokens` takes the next-token logits of the label
//!   tokens at the last real token (the AAR's "A"/"B" readout): the final
//!   hidden state times the output layer's rows for those tokens;
//!   `linear-head` is a trained linear layer on the same hidden state
//!   (EleutherAI w2s).
//! - The loss of a train step is the head students' weighted soft-label
//!   cross-entropy, through candle's autograd; updates use the same
//!   [`Optimizer`] as heads.

use std::sync::Arc;

use candle_core::{D, DType, Tensor, Var};
use serde::{Deserialize, Serialize};
use w2s_lm::ModelConfig;
use w2s_lm::lora::{Adapter, BlockAdapters, Target, scaling, target_shape};

mod backbone;
pub mod recipe;
pub mod tokens;

pub use backbone::Backbone;

use crate::autograd::log_softmax;
use crate::error::{Result, TrainError};
use crate::lora::tokens::TokenBatch;
use crate::optim::Optimizer;
use crate::rng::Rng;

/// How class logits are read off the last real token's final hidden state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// The next-token logits of the task's label tokens.
    LabelTokens,
    /// A trained linear layer `(hidden, classes)` with a bias.
    LinearHead,
}

/// The configuration of an `lm-lora` student.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSpec {
    /// Adapter rank.
    pub rank: u32,
    /// `lora_alpha`.
    pub alpha: f32,
    /// Scale by `alpha / sqrt(rank)` (rsLoRA) instead of `alpha / rank`.
    pub rslora: bool,
    /// Adapted projections, sorted, without repeats.
    pub targets: Vec<Target>,
    /// Adapted decoder blocks (0-based), sorted, without repeats.
    pub layers: Vec<u32>,
    /// The readout.
    pub readout: Readout,
}

impl LoraSpec {
    /// Sorts targets and layers and checks them against `config`: a rank
    /// of at least 1, a finite positive alpha, at least one target, layers
    /// inside the model, no repeats.
    pub fn normalized(mut self, config: &ModelConfig) -> Result<Self> {
        if self.rank == 0 {
            return Err(TrainError::invalid("rank", "must be at least 1"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(TrainError::invalid("alpha", "must be finite and positive"));
        }
        let (nt, nl) = (self.targets.len(), self.layers.len());
        self.targets.sort();
        self.targets.dedup();
        self.layers.sort();
        self.layers.dedup();
        if self.targets.len() != nt || self.layers.len() != nl {
            return Err(TrainError::invalid("lora", "a target or layer is repeated"));
        }
        if self.targets.is_empty() || self.layers.is_empty() {
            return Err(TrainError::invalid(
                "lora",
                "needs at least one target and one layer",
            ));
        }
        if let Some(&l) = self
            .layers
            .iter()
            .find(|&&l| l as usize >= config.num_layers)
        {
            return Err(TrainError::invalid(
                "layers",
                format!("{l} is outside 0..{}", config.num_layers),
            ));
        }
        Ok(self)
    }

    /// Shapes of the trainable parameters, in order (module docs).
    pub fn param_shapes(&self, config: &ModelConfig, classes: usize) -> Vec<Vec<usize>> {
        let r = self.rank as usize;
        let mut shapes = Vec::new();
        for _ in &self.layers {
            for &t in &self.targets {
                let (i, o) = target_shape(config, t);
                shapes.push(vec![r, i]);
                shapes.push(vec![o, r]);
            }
        }
        if self.readout == Readout::LinearHead {
            shapes.push(vec![config.hidden_size, classes]);
            shapes.push(vec![classes]);
        }
        shapes
    }

    /// Number of trainable parameters.
    pub fn param_count(&self, config: &ModelConfig, classes: usize) -> u64 {
        self.param_shapes(config, classes)
            .iter()
            .map(|s| s.iter().product::<usize>() as u64)
            .sum()
    }

    /// A short human name, e.g. `lm-lora(r=32, alpha=32, rslora, q/k/v, 36 layers, label-tokens)`.
    pub fn describe(&self) -> String {
        let targets: Vec<&str> = self.targets.iter().map(|t| t.name()).collect();
        let readout = match self.readout {
            Readout::LabelTokens => "label-tokens",
            Readout::LinearHead => "linear-head",
        };
        format!(
            "lm-lora(r={}, alpha={}{}, {}, {} layers, {readout})",
            self.rank,
            self.alpha,
            if self.rslora { ", rslora" } else { "" },
            targets.join("/"),
            self.layers.len()
        )
    }
}

/// An `lm-lora` student: a shared backbone, a spec and the trainable
/// parameters (module docs for their order).
#[derive(Debug, Clone)]
pub struct LoraStudent {
    backbone: Arc<Backbone>,
    spec: LoraSpec,
    params: Vec<Tensor>,
}

impl LoraStudent {
    /// A fresh student (module docs for the initialisation).
    pub fn init(backbone: Arc<Backbone>, spec: LoraSpec, seed: u64) -> Result<Self> {
        let spec = spec.normalized(backbone.config())?;
        let classes = backbone.classes();
        let device = backbone.label_rows.device().clone();
        let dtype = backbone.label_rows.dtype();
        let mut rng = Rng::for_stream(seed, "lora-init");
        let uniform = |rng: &mut Rng, n: usize, bound: f64| -> Vec<f64> {
            (0..n)
                .map(|_| (rng.uniform() * 2.0 - 1.0) * bound)
                .collect()
        };
        let mut params = Vec::new();
        for shape in spec.param_shapes(backbone.config(), classes) {
            let n: usize = shape.iter().product();
            let values = match (params.len(), spec.readout) {
                // A: kaiming-uniform(a = sqrt 5) = U(±1/sqrt(fan_in)).
                (i, _) if i < 2 * spec.targets.len() * spec.layers.len() && i % 2 == 0 => {
                    uniform(&mut rng, n, 1.0 / (shape[1] as f64).sqrt())
                }
                // B = 0.
                (i, _) if i < 2 * spec.targets.len() * spec.layers.len() => vec![0.0; n],
                // nn.Linear(hidden, classes): weight and bias U(±1/sqrt(hidden)).
                _ => {
                    let hidden = backbone.config().hidden_size as f64;
                    uniform(&mut rng, n, 1.0 / hidden.sqrt())
                }
            };
            params.push(Tensor::from_vec(values, shape, &device)?.to_dtype(dtype)?);
        }
        Ok(Self {
            backbone,
            spec,
            params,
        })
    }

    /// A student from explicit parameters (a checkpoint, a copy); shapes
    /// are checked against the spec.
    pub fn from_params(
        backbone: Arc<Backbone>,
        spec: LoraSpec,
        params: Vec<Tensor>,
    ) -> Result<Self> {
        let spec = spec.normalized(backbone.config())?;
        let shapes = spec.param_shapes(backbone.config(), backbone.classes());
        if shapes.len() != params.len()
            || shapes
                .iter()
                .zip(&params)
                .any(|(s, p)| p.dims() != s.as_slice())
        {
            return Err(TrainError::invalid(
                "params",
                "do not match the lm-lora spec's shapes",
            ));
        }
        Ok(Self {
            backbone,
            spec,
            params,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &LoraSpec {
        &self.spec
    }

    /// The shared backbone.
    pub fn backbone(&self) -> &Arc<Backbone> {
        &self.backbone
    }

    /// The trainable parameters (module docs for their order).
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> u64 {
        self.spec
            .param_count(self.backbone.config(), self.backbone.classes())
    }

    /// Logits `(n, classes)` and the last real token's final hidden state
    /// `(n, hidden)`, computed from `params` (the student's own, or
    /// variables of them for a tracked forward).
    pub fn forward_from(&self, params: &[Tensor], batch: &TokenBatch) -> Result<(Tensor, Tensor)> {
        let c = self.backbone.config();
        let scale = scaling(self.spec.rank, f64::from(self.spec.alpha), self.spec.rslora);
        let mut adapters: Vec<BlockAdapters<'_>> = vec![[None; 7]; c.num_layers];
        let mut i = 0;
        for &l in &self.spec.layers {
            for &t in &self.spec.targets {
                adapters[l as usize][t.index()] = Some(Adapter {
                    a: &params[i],
                    b: &params[i + 1],
                    scale,
                });
                i += 2;
            }
        }
        let (n, seq) = (batch.rows(), batch.seq());
        let states = self
            .backbone
            .decoder
            .hidden_states_with(batch.ids(), batch.mask(), n, seq, &adapters)
            .map_err(|e| TrainError::invalid("tokens", e.to_string()))?;
        let last_idx: Vec<u32> = batch
            .lens()
            .iter()
            .enumerate()
            .map(|(r, &len)| (r * seq + len as usize - 1) as u32)
            .collect();
        let idx = Tensor::from_vec(last_idx, n, states.device())?;
        let hidden = states
            .reshape((n * seq, c.hidden_size))?
            .index_select(&idx, 0)?;
        let logits = match self.spec.readout {
            Readout::LabelTokens => hidden.matmul(&self.backbone.label_rows.t()?)?,
            Readout::LinearHead => hidden.matmul(&params[i])?.broadcast_add(&params[i + 1])?,
        };
        Ok((logits, hidden))
    }

    /// Untracked logits and hidden state (see [`LoraStudent::forward_from`]).
    pub fn forward(&self, batch: &TokenBatch) -> Result<(Tensor, Tensor)> {
        self.forward_from(&self.params, batch)
    }

    /// Class probabilities `(n, classes)`.
    pub fn predict(&self, batch: &TokenBatch) -> Result<Tensor> {
        let (logits, _) = self.forward(batch)?;
        Ok(log_softmax(&logits)?.exp()?)
    }

    /// Fresh variables of the current parameters, in order.
    pub fn vars(&self) -> Result<Vec<Var>> {
        Ok(self
            .params
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<_>>()?)
    }

    /// The weighted soft-label cross-entropy
    /// `sum_i w_i CE(t_i, softmax(z_i)) / sum_i w_i` of a batch and its
    /// gradient with respect to every parameter, in order.
    pub fn loss_and_gradients(
        &self,
        batch: &TokenBatch,
        targets: &Tensor,
        weights: &Tensor,
    ) -> Result<(f64, Vec<Tensor>)> {
        let vars = self.vars()?;
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (logits, _) = self.forward_from(&tensors, batch)?;
        let loss = weighted_soft_ce(&logits, targets, weights)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = loss.backward()?;
        let out = vars
            .iter()
            .map(|v| match grads.get(v.as_tensor()) {
                Some(g) => Ok(g.clone()),
                None => Ok(v.as_tensor().zeros_like()?),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((value, out))
    }

    /// One optimisation step; returns the loss before the update.
    pub fn train_step(
        &mut self,
        opt: &mut Optimizer,
        batch: &TokenBatch,
        targets: &Tensor,
        weights: &Tensor,
    ) -> Result<f32> {
        let (loss, grads) = self.loss_and_gradients(batch, targets, weights)?;
        self.apply_gradients(opt, &grads)?;
        Ok(loss as f32)
    }

    /// One optimizer update with gradients in parameter order.
    pub fn apply_gradients(&mut self, opt: &mut Optimizer, grads: &[Tensor]) -> Result<()> {
        opt.update(&mut self.params, grads)
    }

    /// Adds Gaussian noise of standard deviation `std` to every parameter,
    /// drawn from `seed` by the crate's generator.
    pub fn add_noise(&mut self, seed: u64, std: f32) -> Result<()> {
        let mut rng = Rng::for_stream(seed, "lora-noise");
        let mut out = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let noise: Vec<f32> = (0..p.elem_count())
                .map(|_| (rng.normal() * f64::from(std)) as f32)
                .collect();
            let noise = Tensor::from_vec(noise, p.dims(), p.device())?.to_dtype(p.dtype())?;
            out.push((p + noise)?);
        }
        self.params = out;
        Ok(())
    }

    /// Redraws the parameters from `seed`, as [`LoraStudent::init`] would.
    pub fn reinit(&mut self, seed: u64) -> Result<()> {
        *self = Self::init(self.backbone.clone(), self.spec.clone(), seed)?;
        Ok(())
    }

    /// Replaces the parameters (shapes checked).
    pub fn set_params(&mut self, params: Vec<Tensor>) -> Result<()> {
        *self = Self::from_params(self.backbone.clone(), self.spec.clone(), params)?;
        Ok(())
    }
}

/// `sum_i w_i * (-sum_c t_ic log softmax(z_i)_c) / sum_i w_i`.
///
/// The weights are normalised in f64 first (`w_i / sum_j w_j`, each in
/// `[0, 1]`), as the head students' steps sum them: in f32, four weights
/// of 3e38 overflow their sum (a NaN loss) and four of 1e-45 make
/// `1 / sum^2` infinite in the gradient (non-finite parameters).
pub fn weighted_soft_ce(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let ce = (targets * log_softmax(logits)?)?.sum(D::Minus1)?.neg()?;
    let wide = weights.to_dtype(DType::F64)?;
    let total = wide.sum_all()?;
    let normalised = wide.broadcast_div(&total)?.to_dtype(ce.dtype())?;
    Ok((ce * normalised)?.sum_all()?)
}

#[cfg(test)]
#[path = "lora_tests.rs"]
mod tests;
