//! Noisy-channel EM as a weak-to-strong strategy: the weak teacher is
//! modelled as a noisy channel `T[y][w] = P(weak label w | true label y)`
//! (Dawid and Skene 1979; Sukhbaatar et al. 2015, arXiv:1406.2080;
//! Goldberger and Ben-Reuven 2017, the noise adaptation layer), and the
//! student learns the *true* label through it.
//!
//! Algorithm (`w_i` the weak teacher's hard label of pool example `i`,
//! `p_i` the student's class probabilities):
//!
//! 1. Warm-up: a student drawn from the task seed is trained for
//!    `warmup_epochs` epochs on one-hot `w_i` (vanilla's recipe: AdamW
//!    `lr`, batches of `batch`, shuffles from the `"shuffle"` stream of the
//!    task seed, which continues through every later epoch).
//! 2. Initial channel: the M-step below with `q_i = p_i` (the confusion of
//!    the warm student's predictions against the weak labels).
//! 3. For each of `iterations` rounds:
//!    - E-step on fresh predictions: `q_i(y) ∝ p_i(y) * T[y][w_i]`;
//!    - M-step: `T[y][w] ∝ prior * [y = w] + 1 + sum_i q_i(y) [w_i = w]`
//!      (a Dirichlet prior: `prior` pseudo-counts on the diagonal, one on
//!      every cell);
//!    - `epochs_per_iteration` epochs, each starting with an E-step on the
//!      student's current predictions and the round's `T`, training on the
//!      posteriors `q_i` as soft targets (weight 1).
//! 4. The student is returned.
//!
//! Training on `q` is the EM form of the noise adaptation layer: the
//! gradient of `-log sum_y p(y) T[y][w]` with respect to the logits is
//! `p - q`, the same as soft cross-entropy towards `q`; here `q` is
//! refreshed once per epoch instead of per step, which keeps the fused
//! `train-step` fast path.
//!
//! Config keys (`key=value`, comma separated, all optional):
//! `iterations` (2), `prior` (0, pseudo-counts on the diagonal; the
//! Laplace count of one per cell always applies), `warmup_epochs` (10),
//! `epochs_per_iteration` (5), `lr` (1e-3), `batch` (128), `hidden` (MLP
//! width; default 128 within the policy; 0 = linear probe).
//!
//! Metrics: `train_loss` per epoch (step = epoch, warm-up included);
//! `channel_mean_diagonal` (the estimated teacher accuracy averaged over
//! true classes) and `posterior_disagrees_with_weak` (fraction of the pool
//! whose posterior argmax is not the weak label) per round.

mod channel;

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, log_metric,
    shuffled_epoch, task, weak_probs_chunked,
};

use crate::channel::Channel;

/// The strategy's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// EM rounds after the warm-up (default 2).
    iterations: u32,
    /// Dirichlet pseudo-counts on the channel's diagonal (default 0).
    prior: f64,
    /// Epochs on the weak labels before EM (default 10).
    warmup_epochs: u32,
    /// Epochs on the posteriors per round (default 5).
    epochs_per_iteration: u32,
    /// AdamW learning rate (default 1e-3).
    lr: f32,
    /// Minibatch size (default 128).
    batch: usize,
    /// MLP width; `None` = 128 within the policy, `Some(0)` = linear.
    hidden: Option<u32>,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let s = Self {
            iterations: c.take_or("iterations", 2)?,
            prior: c.take_or("prior", 0.0)?,
            warmup_epochs: c.take_or("warmup_epochs", 10)?,
            epochs_per_iteration: c.take_or("epochs_per_iteration", 5)?,
            lr: c.take_or("lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            hidden: c.take("hidden")?,
        };
        c.finish()?;
        if s.batch == 0 {
            return Err("batch must be positive".into());
        }
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return Err("lr must be positive".into());
        }
        if !(s.prior.is_finite() && s.prior >= 0.0) {
            return Err("prior must be finite and non-negative".into());
        }
        Ok(s)
    }

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

/// The fraction of rows of `q` whose argmax differs from `weak`.
fn disagreement(q: &Matrix, weak: &[usize]) -> f64 {
    if weak.is_empty() {
        return 0.0;
    }
    let differ = q
        .argmax_rows()
        .iter()
        .zip(weak)
        .filter(|(a, b)| a != b)
        .count();
    differ as f64 / weak.len() as f64
}

/// Noisy-channel EM.
struct NoisyChannelEm;

impl Strategy for NoisyChannelEm {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let s = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?.argmax_rows();
        let one_hot = Matrix::one_hot(&weak, task::num_classes());

        let mut student = Student::create(s.arch()?, seed)?;
        let opt = Optimizer::adamw(s.lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        let mut step = 0;
        for _ in 0..s.warmup_epochs {
            let loss =
                shuffled_epoch(&mut student, &opt, &mut rng, &pool, s.batch, &one_hot, None)?
                    .unwrap_or(0.0);
            log_metric(step, "train_loss", loss);
            step += 1;
        }

        let mut channel = Channel::estimate(&student.predict_chunked(&pool)?, &weak, s.prior);
        for round in 0..s.iterations {
            let q = channel.posterior(&student.predict_chunked(&pool)?, &weak);
            channel = Channel::estimate(&q, &weak, s.prior);
            log_metric(round, "channel_mean_diagonal", channel.mean_diagonal());
            log_metric(
                round,
                "posterior_disagrees_with_weak",
                disagreement(&q, &weak),
            );
            for _ in 0..s.epochs_per_iteration {
                let q = channel.posterior(&student.predict_chunked(&pool)?, &weak);
                let loss = shuffled_epoch(&mut student, &opt, &mut rng, &pool, s.batch, &q, None)?
                    .unwrap_or(0.0);
                log_metric(step, "train_loss", loss);
                step += 1;
            }
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(NoisyChannelEm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                iterations: 2,
                prior: 0.0,
                warmup_epochs: 10,
                epochs_per_iteration: 5,
                lr: 1e-3,
                batch: 128,
                hidden: None
            }
        );
        let s =
            Settings::parse("iterations=1,prior=5,warmup_epochs=2,epochs_per_iteration=1").unwrap();
        assert_eq!(
            (
                s.iterations,
                s.prior,
                s.warmup_epochs,
                s.epochs_per_iteration
            ),
            (1, 5.0, 2, 1)
        );
        assert!(Settings::parse("prior=-1").is_err());
        assert!(Settings::parse("prior=inf").is_err());
        assert!(Settings::parse("lr=0").is_err());
        assert!(Settings::parse("epochs=3").is_err());
    }

    #[test]
    fn disagreement_is_a_fraction_of_rows() {
        let q = Matrix::new(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7], 2).unwrap();
        assert_eq!(disagreement(&q, &[0, 0, 0, 0]), 0.5);
        assert_eq!(disagreement(&Matrix::one_hot(&[], 2), &[]), 0.0);
    }
}
