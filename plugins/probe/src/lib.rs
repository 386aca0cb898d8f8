//! A probe on hidden states as a weak-to-strong strategy: a student
//! briefly trained on the weak labels already separates the classes in its
//! hidden layer better than its output does; a difference-in-means probe
//! there (Marks and Tegmark 2023, "The Geometry of Truth",
//! arXiv:2310.06824), optionally in the top principal directions (the
//! unsupervised probing idea of Burns et al. 2022, "Discovering Latent
//! Knowledge in Language Models Without Supervision", arXiv:2212.03827),
//! relabels the pool for the final student.
//!
//! Algorithm (`w_i` the weak teacher's hard label of pool example `i`):
//!
//! 1. Warm-up: a student drawn from `derive_seed(seed, "probe/warmup")` is
//!    trained for `warmup_epochs` epochs on one-hot `w_i` (AdamW `lr`,
//!    batches of `batch`, shuffles from the `"shuffle/warmup"` stream).
//! 2. Hidden states: `h_i = hidden(i)` for the whole pool (the
//!    representation that feeds the final layer; the policy's
//!    `students.read_hidden` must allow it; `hidden` rather than
//!    `forward`, which silently gives the logits when hidden reads are
//!    denied).
//! 3. Space: with `probe=means` the `h_i` themselves; with `probe=pca`
//!    their projection on the top `components` principal directions of
//!    the pool (power iteration from the `"pca"` stream of the task seed).
//! 4. Probe: class centroids `mu_c = mean of h_i over w_i = c` (difference
//!    in means, one centroid per class); the probe's label is the nearest
//!    centroid (Euclidean). `refine` more steps re-estimate the centroids
//!    from the probe's own labels and relabel (k-means started at the
//!    weak-label centroids; 0 by default).
//! 5. Final student: vanilla's recipe on the probe's labels: drawn from
//!    the task seed, `epochs` epochs, shuffles from the `"shuffle"`
//!    stream, one-hot targets, weight 1.
//!
//! Config keys (`key=value`, comma separated, all optional): `probe`
//! (`means` or `pca`; `means`), `components` (8, for `pca`), `refine` (0),
//! `warmup_epochs` (5), `epochs` (20), `lr` (1e-3), `batch` (128),
//! `hidden` (MLP width; default 128 within the policy; 0 = linear, whose
//! hidden states are the task's features).
//!
//! Metrics: `train_loss` per epoch (warm-up at steps `0..warmup_epochs`,
//! the final student after them); `probe_agreement_with_weak` (the
//! fraction of the pool where the probe keeps the weak label) at step 0.

mod geometry;

use w2s_guest_sdk::{
    Arch, CHUNK, Config, Error, ErrorCode, Matrix, Optimizer, Rng, Strategy, StrategyError,
    Student, derive_seed, log_metric, shuffled_epoch, task, weak_probs_chunked,
};

use crate::geometry::{centroids, nearest, principal_projection};

/// Which space the centroids live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    /// The hidden states as they are.
    Means,
    /// Their projection on the top principal directions.
    Pca,
}

/// The strategy's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// The probe's space (default `means`).
    probe: Space,
    /// Principal directions kept with `pca` (default 8).
    components: usize,
    /// k-means steps after the weak-label centroids (default 0).
    refine: u32,
    /// Epochs of the warm-up student (default 5).
    warmup_epochs: u32,
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
        let probe = match c.take_or("probe", String::from("means"))?.as_str() {
            "means" => Space::Means,
            "pca" => Space::Pca,
            other => return Err(format!("probe must be means or pca, not {other:?}").into()),
        };
        let s = Self {
            probe,
            components: c.take_or("components", 8)?,
            refine: c.take_or("refine", 0)?,
            warmup_epochs: c.take_or("warmup_epochs", 5)?,
            epochs: c.take_or("epochs", 20)?,
            lr: c.take_or("lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            hidden: c.take("hidden")?,
        };
        c.finish()?;
        if s.components == 0 {
            return Err("components must be positive".into());
        }
        if s.batch == 0 {
            return Err("batch must be positive".into());
        }
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return Err("lr must be positive".into());
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

/// Nearest-centroid labels from the weak-label centroids, then `refine`
/// k-means steps.
fn probe_labels(space: &Matrix, weak: &[usize], k: usize, refine: u32) -> Vec<usize> {
    let mut labels = nearest(space, &centroids(space, weak, k));
    for _ in 0..refine {
        labels = nearest(space, &centroids(space, &labels, k));
    }
    labels
}

/// The fraction of positions where `a` and `b` hold the same label.
fn agreement(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// Trains `student` for `epochs` epochs on one-hot `labels` of the pool,
/// logging `train_loss` from step `first_step`.
fn train_on(
    student: &mut Student,
    s: &Settings,
    labels: &[usize],
    epochs: u32,
    rng: &mut Rng,
    first_step: u32,
) -> Result<(), StrategyError> {
    let pool = task::pool_indices();
    let targets = Matrix::one_hot(labels, task::num_classes());
    let opt = Optimizer::adamw(s.lr);
    for e in 0..epochs {
        let loss =
            shuffled_epoch(student, &opt, rng, &pool, s.batch, &targets, None)?.unwrap_or(0.0);
        log_metric(first_step + e, "train_loss", loss);
    }
    Ok(())
}

/// The hidden states of `student` for every index of `pool`, one row each,
/// read in calls of at most `CHUNK` indices.
fn pool_hidden(student: &Student, pool: &[u32]) -> Result<Matrix, Error> {
    let width = student.hidden_dim();
    let mut values = Vec::with_capacity(pool.len() * width);
    for part in pool.chunks(CHUNK) {
        values.extend_from_slice(student.hidden(part)?.as_slice());
    }
    Matrix::new(values, width)
}

/// Difference-in-means probe relabelling.
struct Probe;

impl Strategy for Probe {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let s = Settings::parse(config)?;
        let seed = task::seed();
        let k = task::num_classes();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?.argmax_rows();

        let arch = s.arch()?;
        let mut student = Student::create(arch, derive_seed(seed, "probe/warmup"))?;
        let mut rng = Rng::for_stream(seed, "shuffle/warmup");
        train_on(&mut student, &s, &weak, s.warmup_epochs, &mut rng, 0)?;
        let hidden = pool_hidden(&student, &pool).map_err(|e| {
            if e.code() == ErrorCode::NotAllowed {
                "probe needs the policy to allow students.read_hidden".to_string()
            } else {
                e.to_string()
            }
        })?;
        let space = match s.probe {
            Space::Means => hidden,
            Space::Pca => {
                principal_projection(&hidden, s.components, &mut Rng::for_stream(seed, "pca"))
            }
        };
        let labels = probe_labels(&space, &weak, k, s.refine);
        log_metric(0, "probe_agreement_with_weak", agreement(&labels, &weak));

        student.reinit(seed)?;
        let mut rng = Rng::for_stream(seed, "shuffle");
        train_on(
            &mut student,
            &s,
            &labels,
            s.epochs,
            &mut rng,
            s.warmup_epochs,
        )?;
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(Probe);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                probe: Space::Means,
                components: 8,
                refine: 0,
                warmup_epochs: 5,
                epochs: 20,
                lr: 1e-3,
                batch: 128,
                hidden: None
            }
        );
        let s = Settings::parse("probe=pca,components=4,refine=3,warmup_epochs=1").unwrap();
        assert_eq!(
            (s.probe, s.components, s.refine, s.warmup_epochs),
            (Space::Pca, 4, 3, 1)
        );
        assert!(Settings::parse("probe=ccs").is_err());
        assert!(Settings::parse("components=0").is_err());
        assert!(Settings::parse("batch=0").is_err());
        assert!(Settings::parse("layer=1").is_err());
    }

    #[test]
    fn probe_corrects_a_mislabelled_outlier() {
        // Two tight clusters; one point of the right cluster carries the
        // left cluster's weak label. The centroids still sit in their
        // clusters, so the nearest-centroid label fixes it.
        let space = Matrix::new(vec![0.0, 0.1, 0.2, 5.0, 5.1, 5.2], 1).unwrap();
        let weak = [0, 0, 0, 1, 1, 0];
        assert_eq!(probe_labels(&space, &weak, 2, 0), [0, 0, 0, 1, 1, 1]);
        assert_eq!(probe_labels(&space, &weak, 2, 2), [0, 0, 0, 1, 1, 1]);
        assert_eq!(agreement(&[0, 1], &[0, 0]), 0.5);
    }
}
