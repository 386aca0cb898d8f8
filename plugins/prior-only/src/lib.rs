//! A test fixture that ignores its teacher: every pool example's target is
//! the mean of the weak labels (the class prior), so the trained student
//! depends on the teacher only through that one distribution. The
//! teacher-ablation controls must flag it (see this crate's README).

use w2s_guest_sdk::{
    Arch, Config, Optimizer, Rng, Strategy, StrategyError, Student, batches, task,
};

/// Pool indices per `weak-labels` call.
const LABEL_CHUNK: usize = 4096;
/// Examples per train step.
const BATCH: usize = 128;

/// The mean weak-label distribution over `pool`, accumulated in f64.
fn class_prior(pool: &[u32], k: usize) -> Result<Vec<f32>, StrategyError> {
    let mut sum = vec![0.0f64; k];
    for chunk in pool.chunks(LABEL_CHUNK) {
        for row in task::weak_probs(chunk)?.iter_rows() {
            for (s, &p) in sum.iter_mut().zip(row) {
                *s += f64::from(p);
            }
        }
    }
    let n = pool.len().max(1) as f64;
    Ok(sum.iter().map(|s| (s / n) as f32).collect())
}

/// Plays the class prior.
struct PriorOnly;

impl Strategy for PriorOnly {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let mut c = Config::parse(config)?;
        let epochs: u32 = c.take_or("epochs", 5)?;
        let lr: f32 = c.take_or("lr", 1e-3)?;
        c.finish()?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let k = task::num_classes();
        let prior = class_prior(&pool, k)?;
        let arch = Arch::mlp(128)
            .within(&task::allowed_architectures())
            .ok_or("the policy allows no architecture")?;
        let mut student = Student::create(arch, seed)?;
        let opt = Optimizer::adamw(lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        let targets: Vec<f32> = prior.iter().copied().cycle().take(BATCH * k).collect();
        let ones = vec![1.0; BATCH];
        for _ in 0..epochs {
            let order = rng.permutation(pool.len());
            for batch in batches(&order, BATCH) {
                let n = batch.len();
                student.train_step(&opt, batch, &targets[..n * k], &ones[..n])?;
            }
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(PriorOnly);
