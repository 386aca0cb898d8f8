//! The standard weak-to-strong baseline (Burns et al. 2023): train the strong
//! student on the weak teacher's hard labels.
//!
//! The recipe mirrors the host's native reference recipe, which also trains
//! the ceiling: an MLP head with hidden width 128, AdamW (lr 1e-3, weight
//! decay 0.01, betas 0.9/0.999, eps 1e-8), batches of 128, 20 epochs. Each
//! epoch is a fresh permutation of all pool indices drawn from the
//! `"shuffle"` stream of the task seed (the last batch keeps the remainder);
//! the student's weights are drawn from the task seed. This is step for step
//! what `w2s_train::recipe::Recipe::train` does natively, so the sandboxed
//! and native runs train the same student, bit for bit. Targets are one-hot
//! rows of the weak teacher's argmax, every weight 1.
//!
//! Config keys (`key=value`, comma separated, all optional): `epochs`, `lr`,
//! `batch`, and `hidden` (0 asks for a linear probe). Without `hidden`, the
//! MLP falls back to the largest architecture the policy allows.

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, batches, log_metric,
    task,
};

/// Pool indices per `weak-labels` call while reading the teacher's labels.
const LABEL_CHUNK: usize = 4096;

/// The baseline's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Passes over the pool (default 20).
    epochs: u32,
    /// AdamW learning rate (default 1e-3).
    lr: f32,
    /// Minibatch size (default 128).
    batch: usize,
    /// MLP hidden width; `None` for the default of 128 within the policy,
    /// `Some(0)` for a linear probe.
    hidden: Option<u32>,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let settings = Self {
            epochs: c.take_or("epochs", 20)?,
            lr: c.take_or("lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            hidden: c.take("hidden")?,
        };
        c.finish()?;
        if settings.batch == 0 {
            return Err("batch must be positive".into());
        }
        if !(settings.lr.is_finite() && settings.lr > 0.0) {
            return Err("lr must be positive".into());
        }
        Ok(settings)
    }

    /// The architecture to build: the one asked for, or an MLP of width 128
    /// if the policy allows it, else the largest allowed.
    fn arch(&self) -> Result<Arch, StrategyError> {
        match self.hidden {
            Some(0) => Ok(Arch::Linear),
            Some(hidden) => Ok(Arch::mlp(hidden)),
            None => Arch::mlp(128)
                .within(&task::allowed_architectures())
                .ok_or_else(|| "the policy allows no architecture".into()),
        }
    }
}

/// The weak teacher's hard labels for the whole pool, as one-hot rows.
fn hard_label_targets(pool: &[u32]) -> Result<Matrix, StrategyError> {
    let mut labels = Vec::with_capacity(pool.len());
    for chunk in pool.chunks(LABEL_CHUNK) {
        labels.extend(task::weak_probs(chunk)?.argmax_rows());
    }
    Ok(Matrix::one_hot(&labels, task::num_classes()))
}

/// Vanilla weak-to-strong training.
struct Vanilla;

impl Strategy for Vanilla {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let targets = hard_label_targets(&pool)?;
        let mut student = Student::create(settings.arch()?, seed)?;
        let opt = Optimizer::adamw(settings.lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        let ones = vec![1.0; settings.batch.min(pool.len())];
        for epoch in 0..settings.epochs {
            let order = rng.permutation(pool.len());
            let mut loss_sum = 0.0f64;
            for batch in batches(&order, settings.batch) {
                let targets = targets.gather(batch);
                let loss = student.train_step(&opt, batch, &targets, &ones[..batch.len()])?;
                loss_sum += f64::from(loss) * batch.len() as f64;
            }
            if !order.is_empty() {
                log_metric(epoch, "train_loss", loss_sum / order.len() as f64);
            }
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(Vanilla);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_reference_recipe() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                epochs: 20,
                lr: 1e-3,
                batch: 128,
                hidden: None
            }
        );
    }

    #[test]
    fn overrides_and_unknown_keys() {
        let s = Settings::parse("epochs=5,lr=3e-4,batch=64,hidden=256").unwrap();
        assert_eq!(
            (s.epochs, s.lr, s.batch, s.hidden),
            (5, 3e-4, 64, Some(256))
        );
        let err = Settings::parse("epochs=5,momentum=0.9").unwrap_err();
        assert_eq!(err.to_string(), "unknown config keys: momentum");
        assert!(Settings::parse("batch=0").is_err());
        assert!(Settings::parse("lr=-1").is_err());
    }
}
