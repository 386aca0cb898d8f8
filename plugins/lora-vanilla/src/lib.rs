//! The AAR's vanilla weak-to-strong baseline on the strong model itself:
//! fine-tune the task's language model with LoRA on the weak teacher's
//! hard labels, reading the label off the answer tokens' next-token
//! logits.
//!
//! Defaults are the AAR's setting: rank 32, alpha 32 with rsLoRA on
//! q/k/v/o/gate/up/down of every layer, AdamW at lr 1e-4 (weight decay
//! 0.01, betas 0.9/0.999, eps 1e-8), batches of 32, 5 epochs, a linear
//! warmup over the first 10% of steps then a linear decay to 0 (the
//! Hugging Face `Trainer` default schedule). Each epoch is a fresh
//! permutation of the pool from the `"shuffle"` stream of the task seed;
//! the adapters are drawn from the task seed. Targets are one-hot rows of
//! the weak teacher's argmax, every weight 1.
//!
//! Config keys (`key=value`, comma separated, all optional): `epochs`,
//! `lr`, `batch`, `warmup` (a fraction of all steps), `rank`, `alpha`,
//! `rslora` (`true`/`false`), `layers` (how many of the top blocks to
//! adapt; 0 = all) and `head` (`true`: a linear head instead of the
//! label tokens).

use w2s_guest_sdk::lm::{self, LoraConfig, Readout};
use w2s_guest_sdk::{
    Config, Matrix, Optimizer, Rng, Strategy, StrategyError, Student, batches, log_metric, task,
};

/// Pool indices per `weak-labels` call while reading the teacher's labels.
const LABEL_CHUNK: usize = 4096;

/// The recipe's hyperparameters.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    epochs: u32,
    lr: f32,
    batch: usize,
    warmup: f32,
    lora: LoraConfig,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let epochs: u32 = c.take_or("epochs", 5)?;
        let lr: f32 = c.take_or("lr", 1e-4)?;
        let batch: usize = c.take_or("batch", 32)?;
        let warmup: f32 = c.take_or("warmup", 0.1)?;
        let rank: u32 = c.take_or("rank", 32)?;
        let alpha: f32 = c.take_or("alpha", rank as f32)?;
        let rslora: bool = c.take_or("rslora", true)?;
        let top_layers: u32 = c.take_or("layers", 0)?;
        let head = c.take_or("head", false)?;
        c.finish()?;
        if batch == 0 {
            return Err("batch must be positive".into());
        }
        if !(lr.is_finite() && lr > 0.0) {
            return Err("lr must be positive".into());
        }
        if !(0.0..=1.0).contains(&warmup) {
            return Err("warmup must be in [0, 1]".into());
        }
        let model = lm::model().ok_or("this task has no strong language model")?;
        let layers: Vec<u32> = if top_layers == 0 || top_layers >= model.num_layers {
            Vec::new()
        } else {
            (model.num_layers - top_layers..model.num_layers).collect()
        };
        let lora = LoraConfig::new(rank)
            .with_alpha(alpha)
            .with_rslora(rslora)
            .with_layers(&layers)
            .with_readout(if head {
                Readout::LinearHead
            } else {
                Readout::LabelTokens
            });
        Ok(Self {
            epochs,
            lr,
            batch,
            warmup,
            lora,
        })
    }
}

/// Linear warmup over `warm` steps, then linear decay to 0 at `total`.
fn schedule(lr: f32, step: u64, warm: u64, total: u64) -> f32 {
    if step < warm {
        lr * (step + 1) as f32 / warm as f32
    } else {
        let left = total.saturating_sub(step) as f32;
        let span = total.saturating_sub(warm).max(1) as f32;
        lr * left / span
    }
}

/// The weak teacher's hard labels for the whole pool, as one-hot rows.
fn hard_label_targets(pool: &[u32]) -> Result<Matrix, StrategyError> {
    let mut labels = Vec::with_capacity(pool.len());
    for chunk in pool.chunks(LABEL_CHUNK) {
        labels.extend(task::weak_probs(chunk)?.argmax_rows());
    }
    Ok(Matrix::one_hot(&labels, task::num_classes()))
}

struct LoraVanilla;

impl Strategy for LoraVanilla {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let s = Settings::parse(config)?;
        let seed = task::seed();
        let pool = task::pool_indices();
        let targets = hard_label_targets(&pool)?;
        let mut student = Student::create_lora(&s.lora, seed)?;
        let mut opt = Optimizer::adamw(s.lr);
        let mut rng = Rng::for_stream(seed, "shuffle");
        let per_epoch = pool.len().div_ceil(s.batch) as u64;
        let total = per_epoch * u64::from(s.epochs);
        let warm = ((total as f64) * f64::from(s.warmup)).ceil() as u64;
        let mut step = 0u64;
        for epoch in 0..s.epochs {
            let order = rng.permutation(pool.len());
            let mut sum = 0.0;
            for batch in batches(&order, s.batch) {
                let idx: Vec<u32> = batch.iter().map(|&i| pool[i as usize]).collect();
                opt.set_learning_rate(schedule(s.lr, step, warm.max(1), total))?;
                let ones = vec![1.0; idx.len()];
                sum += student.train_step(&opt, &idx, &targets.gather(batch), &ones)?;
                step += 1;
            }
            log_metric(epoch, "train_loss", f64::from(sum) / per_epoch as f64);
        }
        Ok(student)
    }
}

w2s_guest_sdk::export_strategy!(LoraVanilla);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        assert_eq!(schedule(1.0, 0, 2, 10), 0.5);
        assert_eq!(schedule(1.0, 1, 2, 10), 1.0);
        assert_eq!(schedule(1.0, 2, 2, 10), 1.0);
        assert_eq!(schedule(1.0, 10, 2, 10), 0.0);
    }
}
