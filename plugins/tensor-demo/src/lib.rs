//! A custom loss through the `tensor` interface: soft cross-entropy on the
//! weak teacher's probabilities plus `beta` times the entropy of the
//! student's prediction, trained with `forward` + `backward-step`.
//! See README.md.

use w2s_guest_sdk::{
    Arch, Config, Optimizer, Rng, Strategy, StrategyError, Student, Tensor, batches, log_metric,
    task,
};

/// The demo's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    epochs: u32,
    lr: f32,
    batch: usize,
    beta: f32,
    hidden: Option<u32>,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let s = Self {
            epochs: c.take_or("epochs", 5)?,
            lr: c.take_or("lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            beta: c.take_or("beta", 0.1)?,
            hidden: c.take("hidden")?,
        };
        c.finish()?;
        if s.batch == 0 {
            return Err("batch must be positive".into());
        }
        Ok(s)
    }

    fn arch(&self) -> Result<Arch, StrategyError> {
        match self.hidden {
            Some(0) => Ok(Arch::Linear),
            Some(h) => Ok(Arch::mlp(h)),
            None => Arch::mlp(128)
                .within(&task::allowed_architectures())
                .ok_or_else(|| "the policy allows no architecture".into()),
        }
    }
}

/// Soft labels with an entropy penalty, through host tensors.
struct TensorDemo;

impl Strategy for TensorDemo {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let classes = task::num_classes();
        let pool = task::pool_indices();
        let mut student = Student::create(settings.arch()?, seed)?;
        let opt = Optimizer::adamw(settings.lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        for epoch in 0..settings.epochs {
            let order = rng.permutation(pool.len());
            let mut loss_sum = 0.0f64;
            for batch in batches(&order, settings.batch) {
                let weak = task::weak_probs(batch)?;
                let targets = Tensor::from_slice(weak.as_slice(), &[batch.len(), classes])?;
                let (logits, _hidden) = student.forward(batch)?;
                let ce = Tensor::soft_cross_entropy(&logits, &targets)?;
                let penalty = Tensor::entropy(&logits)?.scale(settings.beta)?;
                let loss = (&ce + &penalty)?;
                loss_sum += f64::from(ce.item()?) * batch.len() as f64;
                student.backward_step(&loss, &opt)?;
            }
            if !order.is_empty() {
                log_metric(epoch, "train_ce", loss_sum / order.len() as f64);
            }
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(TensorDemo);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let s = Settings::parse("").unwrap();
        assert_eq!((s.epochs, s.batch, s.beta), (5, 128, 0.1));
        assert!(Settings::parse("gamma=1").is_err());
        assert!(Settings::parse("batch=0").is_err());
    }
}
