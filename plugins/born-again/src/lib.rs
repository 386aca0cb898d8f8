//! Born-again networks (Furlanello et al. 2018, arXiv:1805.04770) as a
//! weak-to-strong strategy: iterated self-distillation starting from the
//! weak teacher.
//!
//! Algorithm (`G = generations`, `m = mix`, `y_i` the weak teacher's hard
//! label of pool example `i`, one-hot):
//!
//! 1. Generation 0 is `plugins/vanilla` step for step: a student drawn from
//!    the task seed, trained for `epochs` epochs on `y_i` (AdamW `lr`,
//!    batches of `batch`, each epoch a fresh permutation from the
//!    `"shuffle"` stream of the task seed).
//! 2. For `g = 1..=G`: read generation `g-1`'s class probabilities
//!    `p_i = predict(i)` on the whole pool; the targets of generation `g`
//!    are `t_i = (1 - m) * p_i + m * y_i`. The same student handle is
//!    redrawn (`reinit`) from `derive_seed(seed, "born-again/generation/g")`
//!    with a fresh optimizer, and trained for `epochs` epochs on `t_i`
//!    (shuffles from the stream `"shuffle/generation/g"`).
//! 3. The last generation is returned.
//!
//! Deviation from the paper, on purpose: the paper's students have the
//! teacher's architecture and its ground-truth labels are replaced by the
//! weak teacher's; here generation 0 *is* the weak-to-strong baseline, so
//! `generations=0` reproduces vanilla exactly. No temperature: the
//! students' probabilities are used as they are.
//!
//! Config keys (`key=value`, comma separated, all optional):
//! `generations` (2), `mix` (0: pure distillation; in `[0, 1]`), `epochs`
//! (20, per generation), `lr` (1e-3), `batch` (128), `hidden` (MLP width;
//! default 128 within the policy; 0 = linear probe).
//!
//! Metrics: `train_loss` at step `g * epochs + epoch`;
//! `agreement_with_weak` and `agreement_with_previous` (fractions of the
//! pool whose argmax matches the weak label / the teacher before it) at
//! step `g - 1` for generation `g - 1` as the teacher of generation `g`.

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, derive_seed,
    log_metric, shuffled_epoch, task, weak_probs_chunked,
};

/// The strategy's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Students trained after generation 0 (default 2).
    generations: u32,
    /// Weight of the weak one-hot label in later generations' targets.
    mix: f32,
    /// Epochs per generation (default 20).
    epochs: u32,
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
            generations: c.take_or("generations", 2)?,
            mix: c.take_or("mix", 0.0)?,
            epochs: c.take_or("epochs", 20)?,
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
        if !(0.0..=1.0).contains(&s.mix) {
            return Err("mix must be in [0, 1]".into());
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

/// Row by row `(1 - mix) * teacher + mix * weak`: the targets of a later
/// generation. Both matrices have the same shape.
fn mix_targets(teacher: &Matrix, weak: &Matrix, mix: f32) -> Matrix {
    let values = teacher
        .as_slice()
        .iter()
        .zip(weak.as_slice())
        .map(|(&t, &w)| (1.0 - mix) * t + mix * w)
        .collect();
    Matrix::new(values, teacher.cols()).expect("same shape as the teacher's rows")
}

/// The fraction of rows whose argmax is the same in `a` and `b`.
fn argmax_agreement(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len() as f64
}

/// Trains one generation from scratch on `targets`.
fn train_generation(
    student: &mut Student,
    settings: &Settings,
    pool: &[u32],
    targets: &Matrix,
    rng: &mut Rng,
    generation: u32,
) -> Result<(), StrategyError> {
    let opt = Optimizer::adamw(settings.lr);
    for e in 0..settings.epochs {
        let loss =
            shuffled_epoch(student, &opt, rng, pool, settings.batch, targets, None)?.unwrap_or(0.0);
        log_metric(generation * settings.epochs + e, "train_loss", loss);
    }
    Ok(())
}

/// Born-again distillation.
struct BornAgain;

impl Strategy for BornAgain {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak_labels = weak_probs_chunked(&pool)?.argmax_rows();
        let weak = Matrix::one_hot(&weak_labels, task::num_classes());

        let mut student = Student::create(settings.arch()?, seed)?;
        let mut rng = Rng::for_stream(seed, "shuffle");
        train_generation(&mut student, &settings, &pool, &weak, &mut rng, 0)?;

        let mut previous = weak_labels.clone();
        for g in 1..=settings.generations {
            let teacher = student.predict_chunked(&pool)?;
            let teacher_labels = teacher.argmax_rows();
            let step = g - 1;
            log_metric(
                step,
                "agreement_with_weak",
                argmax_agreement(&teacher_labels, &weak_labels),
            );
            log_metric(
                step,
                "agreement_with_previous",
                argmax_agreement(&teacher_labels, &previous),
            );
            previous = teacher_labels;
            let targets = mix_targets(&teacher, &weak, settings.mix);
            student.reinit(derive_seed(seed, &format!("born-again/generation/{g}")))?;
            let mut rng = Rng::for_stream(seed, &format!("shuffle/generation/{g}"));
            train_generation(&mut student, &settings, &pool, &targets, &mut rng, g)?;
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(BornAgain);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                generations: 2,
                mix: 0.0,
                epochs: 20,
                lr: 1e-3,
                batch: 128,
                hidden: None
            }
        );
        let s = Settings::parse("generations=4,mix=0.25,epochs=3,hidden=0").unwrap();
        assert_eq!(
            (s.generations, s.mix, s.epochs, s.hidden),
            (4, 0.25, 3, Some(0))
        );
        assert!(Settings::parse("mix=1.5").is_err());
        assert!(Settings::parse("mix=-0.1").is_err());
        assert!(Settings::parse("batch=0").is_err());
        assert!(Settings::parse("temperature=2").is_err());
    }

    #[test]
    fn mixed_targets_stay_distributions() {
        let teacher = Matrix::new(vec![0.6, 0.4, 0.1, 0.9], 2).unwrap();
        let weak = Matrix::one_hot(&[1, 1], 2);
        let t = mix_targets(&teacher, &weak, 0.5);
        for (got, want) in t.as_slice().iter().zip([0.3, 0.7, 0.05, 0.95]) {
            assert!((got - want).abs() < 1e-6, "{got} != {want}");
        }
        assert_eq!(mix_targets(&teacher, &weak, 0.0), teacher);
        assert_eq!(mix_targets(&teacher, &weak, 1.0), weak);
    }

    #[test]
    fn agreement_counts_equal_labels() {
        assert_eq!(argmax_agreement(&[0, 1, 2, 3], &[0, 1, 0, 0]), 0.5);
        assert_eq!(argmax_agreement(&[], &[]), 0.0);
    }
}
