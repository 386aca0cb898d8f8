//! Bootstrapping (Reed et al. 2014, arXiv:1412.6596): after a warm-up on
//! the weak labels, the student's targets mix the weak label with the
//! student's own confident prediction, so that where the student is sure
//! and the teacher disagrees, the teacher's label loses weight.
//!
//! Algorithm, for a pool of `n` examples with weak hard labels `y_i` (the
//! teacher's argmax, one-hot `e(y_i)`):
//!
//! 1. warm-up: the reference recipe for `warmup` epochs on `e(y_i)` (an MLP
//!    of width 128 within the policy, weights from the task seed, AdamW lr
//!    1e-3, batches of 128, every weight 1, each epoch a fresh permutation
//!    from the `"shuffle"` stream of the task seed);
//! 2. `rounds` times: predict the pool with the current student, `q_i`;
//!    where `max_k q_ik >= threshold` the target becomes
//!    `t_i = mix e(y_i) + (1 - mix) z_i`, with `z_i = e(argmax q_i)` (mode
//!    `hard`, Reed's hard bootstrapping) or `z_i = q_i` (mode `soft`);
//!    elsewhere `t_i = e(y_i)`. Then `epochs_per_round` more epochs of the
//!    same student, optimizer and shuffle stream on the targets `t_i`.
//!
//! Targets are always mixed with the weak labels, never with the previous
//! round's targets. The defaults (warm-up 10, 2 rounds of 5) add up to the
//! baseline's 20 epochs, plus `rounds` predictions of the pool. Burns et
//! al. 2023 bootstrap through a chain of intermediate model sizes; the
//! heads here have one size, so this is Reed's self-bootstrapping on one
//! student.
//!
//! Config keys (`key=value`, comma separated, all optional): `warmup` (10),
//! `rounds` (2), `epochs_per_round` (5), `mix` (0.2, in [0, 1]: the weak
//! label's share), `threshold` (0.5, in [0, 1]: the student's smallest
//! probability that counts as confident), `mode` (`hard` or `soft`), `lr`
//! (1e-3), `batch` (128), `hidden` (128 within the policy; 0 asks for a
//! linear probe). Metrics: `train_loss` per epoch (steps numbered across
//! warm-up and rounds); per round `r` (step `r`): `confident_fraction`,
//! `disagreement` (student argmax differs from the weak label, whole
//! pool), `overridden_fraction` (some class has more target weight than
//! the weak label).

use w2s_guest_sdk::{
    Config, Matrix, Recipe, Strategy, StrategyError, Student, log_metric, task, weak_probs_chunked,
};

/// What the student contributes to a confident example's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The one-hot of its argmax (Reed's hard bootstrapping).
    Hard,
    /// Its probability vector (Reed's soft bootstrapping).
    Soft,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hard" => Ok(Self::Hard),
            "soft" => Ok(Self::Soft),
            _ => Err("expected hard or soft".to_owned()),
        }
    }
}

/// The method's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Epochs on the weak labels alone (default 10).
    warmup: u32,
    /// Relabel-and-train rounds (default 2).
    rounds: u32,
    /// Epochs per round (default 5).
    epochs_per_round: u32,
    /// The weak label's share of a confident example's target (default 0.2).
    mix: f32,
    /// The student's smallest max-probability that counts as confident
    /// (default 0.5).
    threshold: f32,
    /// Hard or soft bootstrapping (default hard).
    mode: Mode,
    /// The shared recipe keys (`lr`, `batch`, `hidden`).
    recipe: Recipe,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let s = Self {
            warmup: c.take_or("warmup", 10)?,
            rounds: c.take_or("rounds", 2)?,
            epochs_per_round: c.take_or("epochs_per_round", 5)?,
            mix: c.take_or("mix", 0.2)?,
            threshold: c.take_or("threshold", 0.5)?,
            mode: c.take_or("mode", Mode::Hard)?,
            recipe: Recipe::take(&mut c)?,
        };
        c.finish()?;
        if !(0.0..=1.0).contains(&s.mix) {
            return Err("mix must be in [0, 1]".into());
        }
        if !(0.0..=1.0).contains(&s.threshold) {
            return Err("threshold must be in [0, 1]".into());
        }
        Ok(s)
    }
}

/// Counts over the pool for one round's relabelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Relabel {
    /// Examples where the student's max-probability reached the threshold.
    confident: usize,
    /// Examples where the student's argmax differs from the weak label.
    disagreeing: usize,
    /// Examples whose target gives some class more weight than the weak
    /// label.
    overridden: usize,
}

/// The round's targets (one row per pool index) and its counts.
fn bootstrap_targets(
    weak: &[usize],
    student: &Matrix,
    mix: f32,
    threshold: f32,
    mode: Mode,
) -> (Matrix, Relabel) {
    let classes = student.cols();
    let mut values = Vec::with_capacity(weak.len() * classes);
    let mut counts = Relabel::default();
    for (i, &y) in weak.iter().enumerate() {
        let q = student.row(i);
        let guess = student.argmax(i);
        let confident = q[guess] >= threshold;
        counts.confident += usize::from(confident);
        counts.disagreeing += usize::from(guess != y);
        let start = values.len();
        values.resize(start + classes, 0.0);
        let row = &mut values[start..];
        if confident {
            match mode {
                Mode::Hard => row[guess] = 1.0 - mix,
                Mode::Soft => row
                    .iter_mut()
                    .zip(q)
                    .for_each(|(t, &p)| *t = (1.0 - mix) * p),
            }
            row[y] += mix;
        } else {
            row[y] = 1.0;
        }
        let weak_share = row[y];
        counts.overridden += usize::from(row.iter().any(|&t| t > weak_share));
    }
    let targets = Matrix::new(values, classes.max(1)).expect("rows of `classes` values");
    (targets, counts)
}

/// Bootstrapping.
struct Bootstrap;

impl Strategy for Bootstrap {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?.argmax_rows();
        let mut training = settings.recipe.start(seed)?;
        let weak_targets = Matrix::one_hot(&weak, task::num_classes());
        training.train(&pool, &weak_targets, None, settings.warmup)?;
        for round in 0..settings.rounds {
            let predictions = training.student().predict_chunked(&pool)?;
            let (targets, counts) = bootstrap_targets(
                &weak,
                &predictions,
                settings.mix,
                settings.threshold,
                settings.mode,
            );
            if !pool.is_empty() {
                let n = pool.len() as f64;
                log_metric(round, "confident_fraction", counts.confident as f64 / n);
                log_metric(round, "disagreement", counts.disagreeing as f64 / n);
                log_metric(round, "overridden_fraction", counts.overridden as f64 / n);
            }
            training.train(&pool, &targets, None, settings.epochs_per_round)?;
        }
        Ok(training.into_student())
    }
}

w2s_guest_sdk::export_strategy!(Bootstrap);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_adds_up_to_twenty_epochs() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                warmup: 10,
                rounds: 2,
                epochs_per_round: 5,
                mix: 0.2,
                threshold: 0.5,
                mode: Mode::Hard,
                recipe: Recipe::default()
            }
        );
        assert_eq!(s.warmup + s.rounds * s.epochs_per_round, 20);
    }

    #[test]
    fn overrides_and_refusals() {
        let s = Settings::parse("rounds=3,mix=0.4,threshold=0.6,mode=soft,batch=64").unwrap();
        assert_eq!(
            (s.rounds, s.mix, s.threshold, s.mode, s.recipe.batch),
            (3, 0.4, 0.6, Mode::Soft, 64)
        );
        for bad in [
            "mix=1.5",
            "mix=-0.1",
            "threshold=2",
            "mode=both",
            "epochs=20",
            "lr=0",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hard_targets_mix_only_confident_rows() {
        // Row 0: confident (0.95) and disagreeing; row 1: not confident;
        // row 2: confident and agreeing.
        let q = Matrix::new(vec![0.95, 0.05, 0.6, 0.4, 0.02, 0.98], 2).unwrap();
        let (t, counts) = bootstrap_targets(&[1, 1, 1], &q, 0.25, 0.9, Mode::Hard);
        assert_eq!(t.row(0), &[0.75, 0.25]);
        assert_eq!(t.row(1), &[0.0, 1.0]);
        assert_eq!(t.row(2), &[0.0, 1.0]);
        assert_eq!(
            counts,
            Relabel {
                confident: 2,
                disagreeing: 2,
                overridden: 1
            }
        );
    }

    #[test]
    fn soft_targets_use_the_probabilities_and_stay_distributions() {
        let q = Matrix::new(vec![0.9, 0.1], 2).unwrap();
        let (t, counts) = bootstrap_targets(&[1], &q, 0.5, 0.9, Mode::Soft);
        let row = t.row(0);
        assert!(
            (row[0] - 0.45).abs() < 1e-6 && (row[1] - 0.55).abs() < 1e-6,
            "{row:?}"
        );
        assert_eq!(counts.overridden, 0, "0.55 on the weak label still wins");
        // With mix 0.2 the student's 0.9 wins: 0.72 against 0.08 + 0.2.
        let (t, counts) = bootstrap_targets(&[1], &q, 0.2, 0.9, Mode::Soft);
        assert!((t.row(0).iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(counts.overridden, 1);
        // A tie (hard, mix 0.5) does not override the weak label.
        let (_, counts) = bootstrap_targets(&[1], &q, 0.5, 0.0, Mode::Hard);
        assert_eq!(counts.overridden, 0);
        // Threshold 0 makes every row confident; mix 1 keeps the weak labels.
        let (t, _) = bootstrap_targets(&[1], &q, 1.0, 0.0, Mode::Hard);
        assert_eq!(t.row(0), &[0.0, 1.0]);
    }
}
