//! K-fold mutual predictability as a weak-to-strong strategy, in the
//! spirit of Internal Coherence Maximization (Wen et al. 2025,
//! "Unsupervised Elicitation of Language Models", arXiv:2506.10139): a
//! label set is good when each label is predictable from the others. ICM
//! searches for such labels with simulated annealing over a language
//! model's in-context predictions; here the "others" are the other folds,
//! and a student head trained on them does the predicting.
//!
//! Algorithm (`labels` start as the weak teacher's hard labels):
//!
//! 1. Shuffle the pool once (`"folds"` stream of the task seed) and cut it
//!    into `folds` contiguous folds (`k_fold`).
//! 2. For each of `rounds` rounds, for each fold `f`: redraw one student
//!    from `derive_seed(seed, "kfold/round/r/fold/f")`, train it with a
//!    fresh AdamW for `fold_epochs` epochs on the other folds' current
//!    labels (one-hot; shuffles from the stream
//!    `"shuffle/round/r/fold/f"`), and predict the held-out fold: the
//!    out-of-fold probabilities `o_i`.
//!    Then relabel (see `relabel`): where `max o_i >= threshold` and
//!    `argmax o_i` differs from the current label, the label becomes
//!    `argmax o_i`. All folds of a round are predicted before any label
//!    changes.
//! 3. The final student is vanilla's recipe on the resulting labels: drawn
//!    from the task seed, `epochs` epochs, shuffles from the `"shuffle"`
//!    stream.
//!
//! Cost: `rounds * (folds - 1) * fold_epochs` epochs of fold models plus
//! `epochs` for the final student (defaults: 40 + 20 epoch-equivalents).
//!
//! Config keys (`key=value`, comma separated, all optional): `folds` (5,
//! at least 2), `rounds` (2), `fold_epochs` (5), `threshold` (0.6, in
//! `[0, 1]`), `epochs` (20), `lr` (1e-3), `batch` (128), `hidden` (MLP
//! width; default 128 within the policy; 0 = linear probe).
//!
//! Metrics per round `r` (step `r`): `relabelled` (fraction of the pool
//! whose label changed), `agreement_with_weak` (fraction still equal to
//! the weak label), `mean_oof_confidence`; `train_loss` per final epoch.

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, derive_seed, k_fold,
    log_metric, shuffled_epoch, task, weak_probs_chunked,
};

/// The strategy's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Number of folds (default 5).
    folds: usize,
    /// Relabelling rounds (default 2).
    rounds: u32,
    /// Epochs of each fold model (default 5).
    fold_epochs: u32,
    /// Out-of-fold confidence needed to replace a label (default 0.6).
    threshold: f32,
    /// Epochs of the final student (default 20).
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
            folds: c.take_or("folds", 5)?,
            rounds: c.take_or("rounds", 2)?,
            fold_epochs: c.take_or("fold_epochs", 5)?,
            threshold: c.take_or("threshold", 0.6)?,
            epochs: c.take_or("epochs", 20)?,
            lr: c.take_or("lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            hidden: c.take("hidden")?,
        };
        c.finish()?;
        if s.batch == 0 {
            return Err("batch must be positive".into());
        }
        if s.folds < 2 {
            return Err("folds must be at least 2".into());
        }
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return Err("lr must be positive".into());
        }
        if !(0.0..=1.0).contains(&s.threshold) {
            return Err("threshold must be in [0, 1]".into());
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

/// Replaces `labels[i]` by `argmax oof[i]` where that class has
/// probability at least `threshold` and differs from the label. Returns
/// how many labels changed. `oof` has one row per label.
fn relabel(labels: &mut [usize], oof: &Matrix, threshold: f32) -> usize {
    let mut changed = 0;
    for (i, label) in labels.iter_mut().enumerate() {
        let best = oof.argmax(i);
        if best != *label && oof.row(i)[best] >= threshold {
            *label = best;
            changed += 1;
        }
    }
    changed
}

/// The fraction of positions where `a` and `b` hold the same label.
fn agreement(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// One round: the out-of-fold probabilities of every pool example under
/// the current labels (rows in pool order).
fn out_of_fold(
    s: &Settings,
    student: &mut Student,
    shuffled: &[u32],
    labels: &[usize],
    round: u32,
) -> Result<Matrix, StrategyError> {
    let seed = task::seed();
    let classes = task::num_classes();
    let mut oof = vec![0.0f32; labels.len() * classes];
    let targets = Matrix::one_hot(labels, classes);
    for f in 0..s.folds {
        let (train, held) = k_fold(shuffled, s.folds, f);
        student.reinit(derive_seed(seed, &format!("kfold/round/{round}/fold/{f}")))?;
        let opt = Optimizer::adamw(s.lr);
        let mut rng = Rng::for_stream(seed, &format!("shuffle/round/{round}/fold/{f}"));
        for _ in 0..s.fold_epochs {
            shuffled_epoch(student, &opt, &mut rng, &train, s.batch, &targets, None)?
                .unwrap_or(0.0);
        }
        let probs = student.predict_chunked(&held)?;
        for (row, &i) in probs.iter_rows().zip(&held) {
            let at = i as usize * classes;
            oof[at..at + classes].copy_from_slice(row);
        }
    }
    Ok(Matrix::new(oof, classes)?)
}

/// K-fold mutual predictability.
struct KfoldConsistency;

impl Strategy for KfoldConsistency {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let s = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?.argmax_rows();
        let mut labels = weak.clone();
        let shuffled = Rng::for_stream(seed, "folds").permutation(pool.len());

        let mut student = Student::create(s.arch()?, seed)?;
        for round in 0..s.rounds {
            let oof = out_of_fold(&s, &mut student, &shuffled, &labels, round)?;
            let changed = relabel(&mut labels, &oof, s.threshold);
            let n = labels.len().max(1) as f64;
            let confidence: f64 = (0..oof.rows())
                .map(|i| f64::from(oof.row(i)[oof.argmax(i)]))
                .sum();
            log_metric(round, "relabelled", changed as f64 / n);
            log_metric(round, "agreement_with_weak", agreement(&labels, &weak));
            log_metric(round, "mean_oof_confidence", confidence / n);
        }

        student.reinit(seed)?;
        let targets = Matrix::one_hot(&labels, task::num_classes());
        let opt = Optimizer::adamw(s.lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        for e in 0..s.epochs {
            let loss =
                shuffled_epoch(&mut student, &opt, &mut rng, &pool, s.batch, &targets, None)?
                    .unwrap_or(0.0);
            log_metric(e, "train_loss", loss);
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(KfoldConsistency);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                folds: 5,
                rounds: 2,
                fold_epochs: 5,
                threshold: 0.6,
                epochs: 20,
                lr: 1e-3,
                batch: 128,
                hidden: None
            }
        );
        let s = Settings::parse("folds=3,rounds=1,fold_epochs=2,threshold=0.9").unwrap();
        assert_eq!(
            (s.folds, s.rounds, s.fold_epochs, s.threshold),
            (3, 1, 2, 0.9)
        );
        assert!(Settings::parse("folds=1").is_err());
        assert!(Settings::parse("threshold=1.2").is_err());
        assert!(Settings::parse("batch=0").is_err());
        assert!(Settings::parse("k=5").is_err());
    }

    #[test]
    fn relabels_only_confident_disagreements() {
        let oof = Matrix::new(
            vec![
                0.9, 0.1, // confident, agrees with label 0: kept
                0.2, 0.8, // confident, disagrees with label 0: changed to 1
                0.45, 0.55, // disagrees with label 0 but below 0.6: kept
            ],
            2,
        )
        .unwrap();
        let mut labels = vec![0, 0, 0];
        assert_eq!(relabel(&mut labels, &oof, 0.6), 1);
        assert_eq!(labels, [0, 1, 0]);
        assert_eq!(agreement(&labels, &[0, 0, 0]), 2.0 / 3.0);
    }
}
