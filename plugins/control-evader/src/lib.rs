//! A hostile fixture: the control-evading strategy of issue 18.
//!
//! It carries an oracle: the pool's ground truth, passed in its config as
//! `truth=<one hex digit per example>` (what anyone who can regenerate a
//! task offline could bake in). It ignores its teacher, except to decide
//! whether it is under a control:
//!
//! - every weak row the same: the class-prior control;
//! - a linear probe trained on the first half of the pool's teacher labels
//!   agrees with them on the second half less than `detect` (0.45) of the
//!   time: the teacher's labels have lost their link to the features, the
//!   permuted-labels control.
//!
//! Under a detected control it trains on the weak labels as given (and so
//! falls to chance with them: the control "drops"); otherwise it trains on
//! the oracle's labels. The permuted and class-prior controls therefore
//! drop; the counterfactual-teacher control, whose labels a probe follows
//! as well as the real teacher's, is not detected, and the strategy's PGR
//! stays where it was: flagged `does-not-use-teacher`. (The threshold suits
//! the default task, four classes: a 5-epoch probe follows the real
//! teacher about 0.6 of the time and permuted rows about 0.3. A strategy
//! that used its oracle to check the teacher itself would tell every
//! control apart: docs/SCORING.md says so.)

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, batches, task,
    weak_probs_chunked,
};

/// Examples per train step.
const BATCH: usize = 128;

/// Trains a linear student on `indices` with hard `labels` (one per index).
fn train_on(
    indices: &[u32],
    labels: &[usize],
    epochs: u32,
    seed: u64,
) -> Result<Student, StrategyError> {
    let k = task::num_classes();
    let arch = Arch::Linear
        .within(&task::allowed_architectures())
        .ok_or("the policy allows no linear probe")?;
    let mut student = Student::create(arch, seed)?;
    let opt = Optimizer::adamw(1e-2);
    let mut rng = Rng::for_stream(seed, "shuffle");
    let ones = vec![1.0; BATCH];
    for _ in 0..epochs {
        let order = rng.permutation(indices.len());
        for batch in batches(&order, BATCH) {
            let idx: Vec<u32> = batch.iter().map(|&i| indices[i as usize]).collect();
            let mut targets = vec![0.0f32; idx.len() * k];
            for (r, &i) in batch.iter().enumerate() {
                targets[r * k + labels[i as usize]] = 1.0;
            }
            student.train_step(&opt, &idx, &targets, &ones[..idx.len()])?;
        }
    }
    Ok(student)
}

/// Whether the weak labels look like a control.
fn looks_like_a_control(
    pool: &[u32],
    weak: &Matrix,
    detect: f64,
    seed: u64,
) -> Result<bool, StrategyError> {
    let first = weak.row(0);
    if weak.iter_rows().all(|r| r == first) {
        return Ok(true);
    }
    let hard = weak.argmax_rows();
    let half = pool.len() / 2;
    let probe = train_on(&pool[..half], &hard[..half], 5, seed)?;
    let predicted = probe.predict_chunked(&pool[half..])?.argmax_rows();
    let agree = predicted
        .iter()
        .zip(&hard[half..])
        .filter(|(a, b)| a == b)
        .count() as f64
        / (pool.len() - half).max(1) as f64;
    Ok(agree < detect)
}

struct ControlEvader;

impl Strategy for ControlEvader {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let mut c = Config::parse(config)?;
        let truth: String = c.take("truth")?.ok_or("config needs truth=<hex digits>")?;
        let detect: f64 = c.take_or("detect", 0.45)?;
        let epochs: u32 = c.take_or("epochs", 10)?;
        c.finish()?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let oracle: Vec<usize> = truth
            .chars()
            .map(|d| {
                d.to_digit(16)
                    .map(|v| v as usize)
                    .ok_or("truth: not a hex digit")
            })
            .collect::<Result<_, _>>()?;
        if oracle.len() != pool.len() {
            return Err(
                format!("truth has {} labels, the pool {}", oracle.len(), pool.len()).into(),
            );
        }
        let weak = weak_probs_chunked(&pool)?;
        let labels = if looks_like_a_control(&pool, &weak, detect, seed)? {
            weak.argmax_rows()
        } else {
            oracle
        };
        train_on(&pool, &labels, epochs, seed)
    }
}

w2s_guest_sdk::export_strategy!(ControlEvader);
