//! The reference recipe's training setup, shared by strategies that start
//! from it (an MLP of width 128 within the policy, AdamW, minibatches of
//! 128), and one epoch of weighted soft-label training with it.
//!
//! A strategy that changes only its targets or weights takes the common
//! config keys with [`Recipe::take`], starts a [`Training`] with
//! [`Recipe::start`] and trains with [`Training::train`], so its runs
//! differ from the baseline's only where the method says they do: on the
//! whole pool with one-hot weak labels and unit weights, it makes exactly
//! the baseline's host calls. The number of epochs is each strategy's own
//! key (some split training into phases).

use crate::arch::Arch;
use crate::config::{Config, ConfigError};
use crate::error::{Error, ErrorCode};
use crate::matrix::Matrix;
use crate::metrics::log_metric;
use crate::rng::Rng;
use crate::student::{Optimizer, Student};
use crate::task;

/// The hyperparameters every reference-style strategy shares. Built with
/// [`Recipe::take`]; [`Recipe::default`] is the reference recipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    /// AdamW learning rate (config `lr`, default 1e-3).
    pub lr: f32,
    /// Minibatch size (config `batch`, default 128, positive).
    pub batch: usize,
    /// MLP hidden width (config `hidden`): `None` for 128 within the
    /// policy (else the largest allowed architecture), `Some(0)` for a
    /// linear probe, `Some(h)` for exactly `MLP(h)`.
    pub hidden: Option<u32>,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            batch: 128,
            hidden: None,
        }
    }
}

impl Recipe {
    /// Takes the keys `lr`, `batch` and `hidden` from `config` (each
    /// optional, defaults as in [`Recipe::default`]) and checks them: `lr`
    /// must be finite and positive, `batch` positive.
    pub fn take(config: &mut Config) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let recipe = Self {
            lr: config.take_or("lr", defaults.lr)?,
            batch: config.take_or("batch", defaults.batch)?,
            hidden: config.take("hidden")?,
        };
        if !(recipe.lr.is_finite() && recipe.lr > 0.0) {
            return Err(invalid("lr", recipe.lr, "must be finite and positive"));
        }
        if recipe.batch == 0 {
            return Err(invalid("batch", recipe.batch, "must be positive"));
        }
        Ok(recipe)
    }

    /// The architecture to build: the one `hidden` asks for, or an MLP of
    /// width 128 if the policy allows it, else the largest allowed one.
    pub fn arch(&self) -> Result<Arch, Error> {
        match self.hidden {
            Some(0) => Ok(Arch::Linear),
            Some(hidden) => Ok(Arch::mlp(hidden)),
            None => Arch::mlp(128)
                .within(&task::allowed_architectures())
                .ok_or_else(|| {
                    Error::new(ErrorCode::NotAllowed, "the policy allows no architecture")
                }),
        }
    }

    /// A fresh student of [`Recipe::arch`] with weights drawn from `seed`.
    pub fn student(&self, seed: u64) -> Result<Student, Error> {
        Student::create(self.arch()?, seed)
    }

    /// A fresh AdamW optimizer with the recipe's learning rate (weight
    /// decay 0.01, betas 0.9/0.999, eps 1e-8).
    pub fn optimizer(&self) -> Optimizer {
        Optimizer::adamw(self.lr)
    }

    /// Starts training as the reference recipe does: a student from `seed`
    /// ([`Recipe::student`]), a fresh [`Recipe::optimizer`], and the
    /// `"shuffle"` stream of `seed` for the epochs' orders.
    pub fn start(&self, seed: u64) -> Result<Training, Error> {
        Ok(Training {
            student: self.student(seed)?,
            opt: self.optimizer(),
            rng: Rng::for_stream(seed, "shuffle"),
            batch: self.batch,
            epoch: 0,
        })
    }
}

/// One student in training with a [`Recipe`]: its optimizer, its shuffle
/// stream and the number of epochs trained so far. Made by
/// [`Recipe::start`].
#[derive(Debug)]
pub struct Training {
    student: Student,
    opt: Optimizer,
    rng: Rng,
    batch: usize,
    epoch: u32,
}

impl Training {
    /// `epochs` passes over `indices`, each in a fresh random order (a
    /// permutation of `indices.len()` from the shuffle stream, mapped
    /// through `indices`: for the whole pool, the permutation itself), with
    /// [`train_epoch`]'s steps on `targets` and `weights` (`None`: every
    /// weight 1), which have a row and an entry per pool index. Logs
    /// `train_loss` per epoch, numbered across calls.
    pub fn train(
        &mut self,
        indices: &[u32],
        targets: &Matrix,
        weights: Option<&[f32]>,
        epochs: u32,
    ) -> Result<(), Error> {
        for _ in 0..epochs {
            let loss = shuffled_epoch(
                &mut self.student,
                &self.opt,
                &mut self.rng,
                indices,
                self.batch,
                targets,
                weights,
            )?;
            if let Some(loss) = loss {
                log_metric(self.epoch, "train_loss", loss);
            }
            self.epoch += 1;
        }
        Ok(())
    }

    /// The student as trained so far.
    pub fn student(&self) -> &Student {
        &self.student
    }

    /// The trained student, to return from a strategy.
    pub fn into_student(self) -> Student {
        self.student
    }
}

fn invalid(key: &str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

/// One epoch over `subset` (pool indices) in a fresh random order: the
/// permutation `rng.permutation(subset.len())` mapped through `subset` (for
/// the whole pool, the permutation itself), then [`train_epoch`] with
/// `targets` and `weights` (`None`: every weight 1), which have a row and an
/// entry per pool index. With the `"shuffle"` stream of the task seed and
/// the whole pool, this is vanilla's epoch step for step. Returns
/// [`train_epoch`]'s mean loss.
pub fn shuffled_epoch(
    student: &mut Student,
    opt: &Optimizer,
    rng: &mut Rng,
    subset: &[u32],
    batch: usize,
    targets: &Matrix,
    weights: Option<&[f32]>,
) -> Result<Option<f64>, Error> {
    let order: Vec<u32> = rng
        .permutation(subset.len())
        .into_iter()
        .map(|k| subset[k as usize])
        .collect();
    match weights {
        Some(w) => train_epoch(student, opt, &order, batch, targets, w),
        None => train_epoch(
            student,
            opt,
            &order,
            batch,
            targets,
            &vec![1.0; targets.rows()],
        ),
    }
}

/// One pass over `order` (pool indices) in minibatches of `batch`: a
/// [`Student::train_step`] per batch with the rows of `targets` and the
/// entries of `weights` at those indices (row `i` and entry `i` belong to
/// pool index `i`, as [`task::pool_indices`] numbers them). A batch whose
/// weights are all zero is skipped (the host refuses it).
///
/// Returns the epoch's weighted mean loss, `sum_b loss_b * W_b / sum_b W_b`
/// with `W_b` the batch's weight sum and `loss_b` the loss before its
/// update (with unit weights: the mean per-example loss), or `None` when no
/// batch was trained. Panics when `batch` is zero or an index has no row.
pub fn train_epoch(
    student: &mut Student,
    opt: &Optimizer,
    order: &[u32],
    batch: usize,
    targets: &Matrix,
    weights: &[f32],
) -> Result<Option<f64>, Error> {
    let mut loss_sum = 0.0f64;
    let mut weight_sum = 0.0f64;
    let mut batch_weights = Vec::with_capacity(batch);
    for indices in crate::batches(order, batch) {
        batch_weights.clear();
        batch_weights.extend(indices.iter().map(|&i| weights[i as usize]));
        let total: f64 = batch_weights.iter().map(|&w| f64::from(w)).sum();
        if total <= 0.0 {
            continue;
        }
        let loss = student.train_step(opt, indices, &targets.gather(indices), &batch_weights)?;
        loss_sum += f64::from(loss) * total;
        weight_sum += total;
    }
    Ok((weight_sum > 0.0).then(|| loss_sum / weight_sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_reference_recipe() {
        let mut c = Config::parse("").unwrap();
        assert_eq!(Recipe::take(&mut c).unwrap(), Recipe::default());
        c.finish().unwrap();
        let r = Recipe::default();
        assert_eq!((r.lr, r.batch, r.hidden), (1e-3, 128, None));
    }

    #[test]
    fn takes_only_its_own_keys() {
        let mut c = Config::parse("lr=3e-4,batch=64,hidden=0,epochs=3").unwrap();
        let r = Recipe::take(&mut c).unwrap();
        assert_eq!((r.lr, r.batch, r.hidden), (3e-4, 64, Some(0)));
        assert_eq!(r.arch().unwrap(), Arch::Linear);
        assert_eq!(c.take::<u32>("epochs").unwrap(), Some(3));
        c.finish().unwrap();
    }

    #[test]
    fn refuses_a_zero_batch_and_a_bad_learning_rate() {
        for (config, key) in [("batch=0", "batch"), ("lr=0", "lr"), ("lr=inf", "lr")] {
            let mut c = Config::parse(config).unwrap();
            match Recipe::take(&mut c).unwrap_err() {
                ConfigError::InvalidValue { key: k, .. } => assert_eq!(k, key, "{config}"),
                other => panic!("{config}: {other}"),
            }
        }
    }
}
