//! Evolution strategies (Salimans et al. 2017, "Evolution Strategies as a
//! Scalable Alternative to Reinforcement Learning", arXiv:1703.03864) over
//! a weak-to-strong student head.
//!
//! Algorithm (`w_i` the weak teacher's hard label of pool example `i`):
//!
//! 1. Split: shuffle the pool (`"folds"` stream of the task seed) and hold
//!    out the first of `holdout_folds` folds (`k_fold`); the rest is the
//!    training part.
//! 2. Warm start: a student drawn from the task seed is trained for
//!    `warmup_epochs` epochs on one-hot `w_i` of the training part
//!    (vanilla's recipe otherwise: AdamW `warmup_lr`, batches of `batch`, shuffles
//!    from the `"shuffle"` stream).
//! 3. ES on the flat parameter vector `theta` (`parameters`): for each of
//!    `generations` generations, for each of `population / 2` antithetic
//!    pairs `j`, the `+` candidate is `theta` plus `add-noise(seed_j,
//!    sigma)` with `seed_j = derive_seed(seed, "es/generation/g/pair/j")`;
//!    its direction `eps_j = (candidate - theta) / sigma` is read back and
//!    the `-` candidate is `theta - sigma eps_j` (`set-parameters`). Each
//!    candidate's fitness is measured on the held-out part; all fitnesses
//!    of a generation are shaped into centered ranks, and
//!    `theta += lr * sum_j (r+_j - r-_j) eps_j / (population * sigma)`
//!    (plain gradient ascent).
//! 4. The centre's held-out fitness is measured after every update; the
//!    returned student has the best centre seen, the warm start included.
//!
//! Fitness (`fitness`): `nll` (default) is the mean log-probability the
//! student gives the weak label, `mean_i log p_i(w_i)` (floored at
//! `log 1e-12`); `agree` is the fraction of held-out examples whose argmax
//! is the weak label. Only weak labels are used: the guest sees nothing
//! else.
//!
//! Deliberate deviations from the paper: plain SGD instead of Adam on the
//! ES gradient, no weight decay, and keeping the best centre by held-out
//! fitness (early stopping), so that a bad step size cannot make the
//! result worse than the warm start on the guest's own validation signal.
//!
//! Config keys (`key=value`, comma separated, all optional): `population`
//! (8, even, at least 2), `sigma` (0.01), `lr` (0.002), `generations`
//! (15), `fitness` (`nll` or `agree`), `warmup_epochs` (10),
//! `holdout_folds` (5, at least 2), `warmup_lr` (1e-3), `batch`
//! (128), `hidden` (MLP width; default 128 within the policy; 0 = linear).
//!
//! Metrics: `train_loss` per warm-up epoch; per generation `g` (step `g`;
//! step 0 of the centre metrics is the warm start): `centre_fitness`,
//! `best_fitness`, `population_mean_fitness`.

mod search;

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, Tensor, derive_seed,
    k_fold, log_metric, shuffled_epoch, task, weak_probs_chunked,
};

use crate::search::{antithetic_gradient, centered_ranks};

/// What a candidate is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fitness {
    /// Mean log-probability of the weak label.
    Nll,
    /// Fraction of argmax predictions equal to the weak label.
    Agree,
}

/// The strategy's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Candidates per generation, in antithetic pairs (default 8).
    population: u32,
    /// Perturbation standard deviation (default 0.01).
    sigma: f32,
    /// ES step size (default 0.002).
    lr: f32,
    /// ES generations (default 15).
    generations: u32,
    /// What candidates are scored on (default `nll`).
    fitness: Fitness,
    /// Warm-start epochs on the weak labels (default 10).
    warmup_epochs: u32,
    /// One fold out of this many is held out for fitness (default 5).
    holdout_folds: usize,
    /// AdamW learning rate of the warm start (default 1e-3).
    warmup_lr: f32,
    /// Minibatch size (default 128).
    batch: usize,
    /// MLP width; `None` = 128 within the policy, `Some(0)` = linear.
    hidden: Option<u32>,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let fitness = match c.take_or("fitness", String::from("nll"))?.as_str() {
            "nll" => Fitness::Nll,
            "agree" => Fitness::Agree,
            other => return Err(format!("fitness must be nll or agree, not {other:?}").into()),
        };
        let s = Self {
            population: c.take_or("population", 8)?,
            sigma: c.take_or("sigma", 0.01)?,
            lr: c.take_or("lr", 0.002)?,
            generations: c.take_or("generations", 15)?,
            fitness,
            warmup_epochs: c.take_or("warmup_epochs", 10)?,
            holdout_folds: c.take_or("holdout_folds", 5)?,
            warmup_lr: c.take_or("warmup_lr", 1e-3)?,
            batch: c.take_or("batch", 128)?,
            hidden: c.take("hidden")?,
        };
        c.finish()?;
        if s.population < 2 || !s.population.is_multiple_of(2) {
            return Err("population must be even and at least 2".into());
        }
        if !(s.sigma.is_finite() && s.sigma > 0.0 && s.sigma <= 100.0) {
            return Err("sigma must be in (0, 100]".into());
        }
        if !(s.lr.is_finite() && s.lr >= 0.0) {
            return Err("lr must be finite and non-negative".into());
        }
        if !(s.warmup_lr.is_finite() && s.warmup_lr > 0.0) {
            return Err("warmup_lr must be positive".into());
        }
        if s.holdout_folds < 2 {
            return Err("holdout_folds must be at least 2".into());
        }
        if s.batch == 0 {
            return Err("batch must be positive".into());
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

/// A student's parameters as one flat vector, with the shapes to rebuild
/// them.
struct Flat {
    shapes: Vec<Vec<usize>>,
    values: Vec<f32>,
}

impl Flat {
    fn read(student: &Student) -> Result<Self, StrategyError> {
        let mut shapes = Vec::new();
        let mut values = Vec::new();
        for t in student.parameters()? {
            shapes.push(t.shape());
            values.extend(t.to_vec()?);
        }
        Ok(Self { shapes, values })
    }

    /// Writes `values` (laid out as `self`) into `student`.
    fn write(&self, student: &mut Student, values: &[f32]) -> Result<(), StrategyError> {
        let mut tensors = Vec::with_capacity(self.shapes.len());
        let mut at = 0;
        for shape in &self.shapes {
            let len: usize = shape.iter().product();
            tensors.push(Tensor::from_slice(&values[at..at + len], shape)?);
            at += len;
        }
        let refs: Vec<&Tensor> = tensors.iter().collect();
        student.set_parameters(&refs)?;
        Ok(())
    }
}

/// `fitness` of a student's predictions `probs` against the weak labels.
fn score(fitness: Fitness, probs: &Matrix, weak: &[usize]) -> f64 {
    if weak.is_empty() {
        return 0.0;
    }
    let total: f64 = match fitness {
        Fitness::Nll => probs
            .iter_rows()
            .zip(weak)
            .map(|(row, &w)| f64::from(row[w]).max(1e-12).ln())
            .sum(),
        Fitness::Agree => probs
            .argmax_rows()
            .iter()
            .zip(weak)
            .filter(|(a, b)| a == b)
            .count() as f64,
    };
    total / weak.len() as f64
}

/// Evolution strategies after a warm start.
struct EvolutionStrategies;

impl Strategy for EvolutionStrategies {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let s = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let weak = weak_probs_chunked(&pool)?.argmax_rows();
        let shuffled = Rng::for_stream(seed, "folds").permutation(pool.len());
        let (train, held) = k_fold(&shuffled, s.holdout_folds, 0);
        let held_weak: Vec<usize> = held.iter().map(|&i| weak[i as usize]).collect();
        let targets = Matrix::one_hot(&weak, task::num_classes());

        let mut student = Student::create(s.arch()?, seed)?;
        let opt = Optimizer::adamw(s.warmup_lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        for e in 0..s.warmup_epochs {
            let loss = shuffled_epoch(
                &mut student,
                &opt,
                &mut rng,
                &train,
                s.batch,
                &targets,
                None,
            )?
            .unwrap_or(0.0);
            log_metric(e, "train_loss", loss);
        }

        let fit = |st: &Student| -> Result<f64, StrategyError> {
            Ok(score(s.fitness, &st.predict_chunked(&held)?, &held_weak))
        };
        let flat = Flat::read(&student)?;
        let mut theta = flat.values.clone();
        let mut best = (fit(&student)?, theta.clone());
        log_metric(0, "centre_fitness", best.0);
        log_metric(0, "best_fitness", best.0);

        let pairs = s.population / 2;
        for g in 0..s.generations {
            let mut directions = Vec::with_capacity(pairs as usize);
            let mut scores = Vec::with_capacity(s.population as usize);
            for j in 0..pairs {
                flat.write(&mut student, &theta)?;
                student.add_noise(
                    derive_seed(seed, &format!("es/generation/{g}/pair/{j}")),
                    s.sigma,
                )?;
                scores.push(fit(&student)?);
                let plus = Flat::read(&student)?.values;
                let eps: Vec<f32> = plus
                    .iter()
                    .zip(&theta)
                    .map(|(p, t)| (p - t) / s.sigma)
                    .collect();
                let minus: Vec<f32> = theta
                    .iter()
                    .zip(&eps)
                    .map(|(t, e)| t - s.sigma * e)
                    .collect();
                flat.write(&mut student, &minus)?;
                scores.push(fit(&student)?);
                directions.push(eps);
            }
            let ranks = centered_ranks(&scores);
            let plus: Vec<f64> = ranks.iter().step_by(2).copied().collect();
            let minus: Vec<f64> = ranks.iter().skip(1).step_by(2).copied().collect();
            let grad = antithetic_gradient(&directions, &plus, &minus, s.sigma);
            for (t, d) in theta.iter_mut().zip(&grad) {
                *t += s.lr * d;
            }
            flat.write(&mut student, &theta)?;
            let centre = fit(&student)?;
            if centre > best.0 {
                best = (centre, theta.clone());
            }
            let step = g + 1;
            log_metric(step, "centre_fitness", centre);
            log_metric(step, "best_fitness", best.0);
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            log_metric(step, "population_mean_fitness", mean);
        }
        flat.write(&mut student, &best.1)?;
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(EvolutionStrategies);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let s = Settings::parse("").unwrap();
        assert_eq!(
            s,
            Settings {
                population: 8,
                sigma: 0.01,
                lr: 0.002,
                generations: 15,
                fitness: Fitness::Nll,
                warmup_epochs: 10,
                holdout_folds: 5,
                warmup_lr: 1e-3,
                batch: 128,
                hidden: None
            }
        );
        let s = Settings::parse("population=4,sigma=0.1,generations=2,fitness=agree").unwrap();
        assert_eq!(
            (s.population, s.sigma, s.generations, s.fitness),
            (4, 0.1, 2, Fitness::Agree)
        );
        assert!(Settings::parse("population=3").is_err());
        assert!(Settings::parse("population=0").is_err());
        assert!(Settings::parse("sigma=0").is_err());
        assert!(Settings::parse("fitness=accuracy").is_err());
        assert!(Settings::parse("holdout_folds=1").is_err());
        assert!(Settings::parse("warmup_lr=nan").is_err());
        assert!(Settings::parse("lr=-1").is_err());
    }

    #[test]
    fn fitness_scores() {
        let probs = Matrix::new(vec![0.5, 0.5, 0.25, 0.75], 2).unwrap();
        // log 0.5 and log 0.25, averaged; argmax [0, 1] matches weak [0, 0]
        // once.
        let nll = score(Fitness::Nll, &probs, &[0, 0]);
        assert!((nll - (0.5f64.ln() + 0.25f64.ln()) / 2.0).abs() < 1e-12);
        assert_eq!(score(Fitness::Agree, &probs, &[0, 0]), 0.5);
    }
}
