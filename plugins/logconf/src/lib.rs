//! Weak-to-strong training with the auxiliary confidence loss of Burns et
//! al. 2023 ("Weak-to-Strong Generalization", arXiv:2312.09390, section
//! 4.3.2): the student is trained towards a mix of the weak teacher's hard
//! labels and its own hardened predictions, so that it can confidently
//! disagree with the teacher where the teacher is wrong.
//!
//! # Algorithm
//!
//! Vanilla's recipe (`plugins/vanilla`): an MLP head of width 128 (within
//! the policy), AdamW (lr 1e-3, weight decay 0.01), batches of 128, 20
//! epochs, one permutation of the pool per epoch from the `"shuffle"`
//! stream of the task seed, weights from the task seed. Only the targets
//! differ. At step `t` (0-based) of `T = epochs * ceil(pool / batch)`:
//!
//! 1. `alpha_t = alpha * t / W`, capped at `alpha`, with
//!    `W = round(warmup * T)` (alpha from the start when `W` is 0): a linear
//!    warm-up from 0 over the first `warmup` fraction of the steps.
//! 2. `p = predict(batch)`: the student's probabilities, detached (a plain
//!    read, before this step's update).
//! 3. Hardened labels `h` from `p` with a class-balance-aware threshold
//!    (see [`hardening::harden`]): for two classes the paper's rule,
//!    class 0 exactly when `p_0 >= quantile_batch(p_0, pi_1)` where `pi_1`
//!    is the batch's fraction of weak labels 1; for `k > 2` classes the
//!    first argmax of `p_c / t_c` with `t_c = quantile_batch(p_c, 1 -
//!    pi_c)`, a per-class threshold at the weak labels' class prior.
//! 4. One fused `train_step` with targets
//!    `(1 - alpha_t) * onehot(weak) + alpha_t * onehot(h)` and unit
//!    weights. Cross-entropy is linear in its targets, so this is exactly
//!    `(1 - alpha_t) * CE(student, weak) + alpha_t * CE(student, h)`.
//!
//! Differences from the paper's code (`logconf_loss_fn` in
//! openai/weak-to-strong): there the weak labels are soft and the warm-up
//! coefficient is `step_frac` itself during warm-up (not
//! `step_frac / warmup_frac`); here the weak labels are hard, as the
//! vanilla baseline's, and the warm-up is a true linear ramp to `alpha`.
//!
//! `w2s_train::logconf::LogConf` is the native twin of this plugin, step
//! for step; `tests/all/native_twin.rs` checks that both give the same
//! student bit for bit.
//!
//! Config keys (`key=value`, comma separated, all optional): `epochs` (20),
//! `lr` (1e-3), `batch` (128), `hidden` (0 asks for a linear probe; default
//! an MLP of width 128 within the policy), `alpha` (0.75, in [0, 1]) and
//! `warmup` (0.2, in [0, 1]).

mod hardening;

use w2s_guest_sdk::{
    Arch, Config, Optimizer, Rng, Strategy, StrategyError, Student, batches, log_metric, task,
};

/// Pool indices per `weak-labels` call while reading the teacher's labels.
const LABEL_CHUNK: usize = 4096;

/// The method's hyperparameters.
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
    /// Final weight of the self-label term (default 0.75).
    alpha: f32,
    /// Fraction of all steps over which alpha ramps up from 0 (default 0.2).
    warmup: f32,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let settings = Self {
            epochs: c.take_or("epochs", 20)?,
            lr: c.take_or("lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            hidden: c.take("hidden")?,
            alpha: c.take_or("alpha", 0.75)?,
            warmup: c.take_or("warmup", 0.2)?,
        };
        c.finish()?;
        if settings.batch == 0 {
            return Err("batch must be positive".into());
        }
        if !(settings.lr.is_finite() && settings.lr > 0.0) {
            return Err("lr must be positive".into());
        }
        if !(0.0..=1.0).contains(&settings.alpha) {
            return Err("alpha must be in [0, 1]".into());
        }
        if !(0.0..=1.0).contains(&settings.warmup) {
            return Err("warmup must be in [0, 1]".into());
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

/// The weak teacher's hard labels for the whole pool.
fn weak_hard_labels(pool: &[u32]) -> Result<Vec<usize>, StrategyError> {
    let mut labels = Vec::with_capacity(pool.len());
    for chunk in pool.chunks(LABEL_CHUNK) {
        labels.extend(task::weak_probs(chunk)?.argmax_rows());
    }
    Ok(labels)
}

/// Weak-to-strong training with the auxiliary confidence loss.
struct LogConf;

impl Strategy for LogConf {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let k = task::num_classes();
        let pool = task::pool_indices();
        let weak = weak_hard_labels(&pool)?;
        let mut student = Student::create(settings.arch()?, seed)?;
        let opt = Optimizer::adamw(settings.lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        let ones = vec![1.0; settings.batch.min(pool.len())];
        let total = u64::from(settings.epochs) * pool.len().div_ceil(settings.batch) as u64;
        let mut step = 0u64;
        for epoch in 0..settings.epochs {
            let order = rng.permutation(pool.len());
            let mut loss_sum = 0.0f64;
            for batch in batches(&order, settings.batch) {
                let alpha = hardening::alpha_at(step, total, settings.alpha, settings.warmup);
                let weak_batch: Vec<usize> = batch.iter().map(|&i| weak[i as usize]).collect();
                let probs = student.predict(batch)?;
                let hard = hardening::harden(probs.as_slice(), &weak_batch, k);
                let targets = hardening::mixed_targets(&weak_batch, &hard, k, alpha);
                let loss = student.train_step(&opt, batch, &targets, &ones[..batch.len()])?;
                loss_sum += f64::from(loss) * batch.len() as f64;
                step += 1;
            }
            if !order.is_empty() {
                log_metric(epoch, "train_loss", loss_sum / order.len() as f64);
            }
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(LogConf);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_paper_setting_on_the_reference_recipe() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                epochs: 20,
                lr: 1e-3,
                batch: 128,
                hidden: None,
                alpha: 0.75,
                warmup: 0.2,
            }
        );
    }

    #[test]
    fn overrides_and_refusals() {
        let s = Settings::parse("epochs=5,lr=3e-4,batch=64,hidden=0,alpha=0.5,warmup=0").unwrap();
        assert_eq!(
            (s.epochs, s.lr, s.batch, s.hidden, s.alpha, s.warmup),
            (5, 3e-4, 64, Some(0), 0.5, 0.0)
        );
        let err = Settings::parse("epochs=5,beta=0.9").unwrap_err();
        assert_eq!(err.to_string(), "unknown config keys: beta");
        assert!(Settings::parse("batch=0").is_err());
        assert!(Settings::parse("lr=0").is_err());
        assert!(Settings::parse("alpha=1.5").is_err());
        assert!(Settings::parse("warmup=-0.1").is_err());
    }
}
