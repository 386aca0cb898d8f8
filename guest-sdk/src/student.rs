//! Students (trainable heads living in host memory) and their optimizers.

use std::cell::OnceCell;

use crate::arch::Arch;
use crate::bindings::w2s::strategy::student as wit;
use crate::bindings::w2s::strategy::types as wit_types;
use crate::error::Error;
use crate::matrix::Matrix;
use crate::task::{self, rows_of};
use crate::tensor::Tensor;

/// Which update rule an optimizer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay).
    AdamW,
    /// SGD with optional momentum and (coupled) weight decay.
    Sgd,
}

/// Hyperparameters of an optimizer. Fields a kind does not use are ignored
/// by the host (`beta1`, `beta2` and `eps` for SGD; `momentum` for AdamW).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub learning_rate: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Adam's first-moment decay.
    pub beta1: f32,
    /// Adam's second-moment decay.
    pub beta2: f32,
    /// Adam's denominator epsilon.
    pub eps: f32,
    /// SGD momentum.
    pub momentum: f32,
}

/// An optimizer for one student: hyperparameters plus host-side state
/// (moments, step count).
///
/// The host resource is created on the first [`Student::train_step`], so
/// the builder methods below cost nothing. The state binds to the first
/// student it updates; using it with another student is a
/// [`crate::ErrorCode::WrongHandle`] error. Hyperparameters are checked by
/// the host, not here.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    handle: OnceCell<wit::Optimizer>,
}

impl Optimizer {
    /// An optimizer with the given hyperparameters.
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            handle: OnceCell::new(),
        }
    }

    /// AdamW with PyTorch's defaults: weight decay 0.01, betas 0.9/0.999,
    /// eps 1e-8.
    pub fn adamw(learning_rate: f32) -> Self {
        Self::new(OptimizerConfig {
            kind: OptimizerKind::AdamW,
            learning_rate,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum: 0.0,
        })
    }

    /// SGD with the given momentum (0 for none) and PyTorch's default weight
    /// decay of 0.
    pub fn sgd(learning_rate: f32, momentum: f32) -> Self {
        Self::new(OptimizerConfig {
            kind: OptimizerKind::Sgd,
            learning_rate,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            momentum,
        })
    }

    /// The same optimizer with another weight decay. Any state is dropped:
    /// call it before training.
    pub fn with_weight_decay(self, weight_decay: f32) -> Self {
        Self::new(OptimizerConfig {
            weight_decay,
            ..self.config
        })
    }

    /// The same optimizer with other Adam betas. Any state is dropped.
    pub fn with_betas(self, beta1: f32, beta2: f32) -> Self {
        Self::new(OptimizerConfig {
            beta1,
            beta2,
            ..self.config
        })
    }

    /// The same optimizer with another Adam epsilon. Any state is dropped.
    pub fn with_eps(self, eps: f32) -> Self {
        Self::new(OptimizerConfig { eps, ..self.config })
    }

    /// The current hyperparameters.
    pub fn config(&self) -> OptimizerConfig {
        self.config
    }

    /// Changes the learning rate from the next step on (schedules), keeping
    /// the state.
    pub fn set_learning_rate(&mut self, learning_rate: f32) -> Result<(), Error> {
        if let Some(handle) = self.handle.get() {
            handle.set_learning_rate(learning_rate)?;
        }
        self.config.learning_rate = learning_rate;
        Ok(())
    }

    fn handle(&self) -> &wit::Optimizer {
        self.handle
            .get_or_init(|| wit::Optimizer::new(self.config.into()))
    }
}

impl From<OptimizerConfig> for wit_types::OptimizerConfig {
    fn from(c: OptimizerConfig) -> Self {
        Self {
            kind: match c.kind {
                OptimizerKind::AdamW => wit_types::OptimizerKind::Adamw,
                OptimizerKind::Sgd => wit_types::OptimizerKind::Sgd,
            },
            learning_rate: c.learning_rate,
            weight_decay: c.weight_decay,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            momentum: c.momentum,
        }
    }
}

/// A trainable head over the task's frozen strong features, or the strong
/// model with LoRA adapters ([`crate::lm`]), living in host memory.
/// Dropping it frees the host side.
#[derive(Debug)]
pub struct Student {
    handle: wit::Student,
}

impl Student {
    pub(crate) fn from_handle(handle: wit::Student) -> Self {
        Self { handle }
    }

    pub(crate) fn handle(&self) -> &wit::Student {
        &self.handle
    }

    /// A new student with weights drawn from `seed`. The same architecture
    /// and seed always give the same weights.
    pub fn create(arch: Arch, seed: u64) -> Result<Self, Error> {
        Ok(Self {
            handle: wit::Student::create(arch.into(), seed)?,
        })
    }

    /// An independent copy with the same weights.
    pub fn duplicate(&self) -> Result<Self, Error> {
        Ok(Self {
            handle: self.handle.duplicate()?,
        })
    }

    /// This student's architecture.
    pub fn architecture(&self) -> Arch {
        self.handle.architecture().into()
    }

    /// Width of the representation that feeds the final layer (the feature
    /// width for a linear probe, the hidden width for an MLP).
    pub fn hidden_dim(&self) -> usize {
        self.handle.hidden_dim() as usize
    }

    /// Class probabilities for `indices`: one row of `num_classes` per index.
    pub fn predict(&self, indices: &[u32]) -> Result<Matrix, Error> {
        let values = self.handle.predict(indices)?;
        rows_of(values, indices.len(), task::num_classes())
    }

    /// The representation that feeds the final layer for `indices`: one row
    /// of [`Student::hidden_dim`] values per index.
    pub fn hidden(&self, indices: &[u32]) -> Result<Matrix, Error> {
        let values = self.handle.hidden(indices)?;
        rows_of(values, indices.len(), self.hidden_dim())
    }

    /// One optimisation step on a batch of pool indices: weighted soft-label
    /// cross-entropy `sum_i w_i * CE(targets_i, softmax(f(x_i))) / sum_i w_i`,
    /// its gradient, and one update by `opt`. `targets` is row-major,
    /// `indices.len() * num_classes` values, each row a distribution;
    /// `weights` has one non-negative value per index. Returns the loss
    /// before the update.
    pub fn train_step(
        &mut self,
        opt: &Optimizer,
        indices: &[u32],
        targets: &[f32],
        weights: &[f32],
    ) -> Result<f32, Error> {
        Ok(self
            .handle
            .train_step(opt.handle(), indices, targets, weights)?)
    }

    /// A tracked forward pass: logits `(n, classes)` and the representation
    /// that feeds the final layer `(n, hidden_dim)` (the logits again when
    /// the policy denies hidden reads), both carrying gradients to this
    /// student's current parameters.
    pub fn forward(&self, indices: &[u32]) -> Result<(Tensor, Tensor), Error> {
        let (logits, hidden) = self.handle.forward(indices)?;
        Ok((Tensor::from_handle(logits), Tensor::from_handle(hidden)))
    }

    /// Backward from the scalar `loss` (built from a [`Student::forward`]
    /// since the parameters last changed), then one update by `opt`.
    pub fn backward_step(&mut self, loss: &Tensor, opt: &Optimizer) -> Result<(), Error> {
        Ok(self.handle.backward_step(loss.handle(), opt.handle())?)
    }

    /// Redraws the weights from `seed`, as [`Student::create`] would.
    pub fn reinit(&mut self, seed: u64) -> Result<(), Error> {
        Ok(self.handle.reinit(seed)?)
    }

    /// Copies of the parameters `[w0, b0, w1, b1, ...]`, `w` of shape
    /// `(in, out)`, `b` of shape `(out)`.
    pub fn parameters(&self) -> Result<Vec<Tensor>, Error> {
        Ok(self
            .handle
            .parameters()?
            .into_iter()
            .map(Tensor::from_handle)
            .collect())
    }

    /// Replaces the parameters; shapes must match [`Student::parameters`].
    pub fn set_parameters(&mut self, params: &[&Tensor]) -> Result<(), Error> {
        let handles: Vec<_> = params.iter().map(|t| t.handle()).collect();
        Ok(self.handle.set_parameters(&handles)?)
    }

    /// Adds seeded Gaussian noise of standard deviation `std` to every
    /// parameter (evolution strategies).
    pub fn add_noise(&mut self, seed: u64, std: f32) -> Result<(), Error> {
        Ok(self.handle.add_noise(seed, std)?)
    }

    /// The WIT handle, for returning the student from the export.
    pub(crate) fn into_handle(self) -> wit::Student {
        self.handle
    }
}
