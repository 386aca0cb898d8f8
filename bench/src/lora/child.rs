//! `w2s-bench-lora-step`: w2s's side of `w2s-bench`'s LoRA step pair
//! (`src/lora_step.rs`), in a process of its own. Prints
//! `{"steps_per_s": X}`, the fastest of [`STEPS`] timed steps after one
//! untimed one; `RAYON_NUM_THREADS` sets the threads.
//!
//! It links the system allocator, as `w2s-runner` does, and its parent
//! starts it with the runner's allocator settings
//! (`w2s_runner::MALLOC_TUNABLES`): the confined runner is where every
//! guest's student trains. `w2s-bench` itself links mimalloc, as `w2s`
//! does (feature extraction runs in `w2s task build`). The allocators
//! differ on this workload: a step allocates and frees a few GB of candle
//! tensors, and memory an allocator hands back to the kernel is faulted in
//! again, zeroed, by the next step. In a one-thread profile of the step in
//! mimalloc's process (default purge delay), page zeroing
//! (`clear_page_erms`) was a third of the samples (docs/PERFORMANCE.md).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use w2s_lm::ModelDir;
use w2s_lm::lora::Target;
use w2s_train::lora::{Backbone, LoraSpec, LoraStudent, Readout};
use w2s_train::lora_tokens::TokenSet;
use w2s_train::optim::{Optimizer, OptimizerConfig};

mod shape;

use shape::{LABELS, MODEL, RANK, ROWS, STEPS, TOKENS};

/// Token id `j` of row `i` (deterministic, away from the special tokens
/// at the start of the vocabulary; `bench/torch_lora.py` computes the
/// same).
fn token(i: usize, j: usize, vocab: usize) -> u32 {
    (100 + (i * 7_919 + j * 104_729) % (vocab - 100)) as u32
}

fn main() -> Result<()> {
    let dir = Path::new(MODEL);
    let model = ModelDir::open(dir, TOKENS)?;
    let vocab = model.config.vocab_size;
    let decoder = model.decoder(model.config.num_layers, &Device::Cpu)?;
    let rows = decoder.output_rows(model.weights(), &LABELS)?;
    let backbone = Arc::new(Backbone::new(decoder, rows)?);
    let spec = LoraSpec {
        rank: RANK,
        alpha: 2.0 * RANK as f32,
        rslora: false,
        targets: Target::ALL.to_vec(),
        layers: (0..model.config.num_layers as u32).collect(),
        readout: Readout::LabelTokens,
    };
    let mut student = LoraStudent::init(backbone, spec, 1)?;
    let seqs: Vec<Vec<u32>> = (0..ROWS)
        .map(|i| (0..TOKENS).map(|j| token(i, j, vocab)).collect())
        .collect();
    let set = TokenSet::from_sequences(&seqs, TOKENS)?;
    let batch = set.batch(&(0..ROWS as u32).collect::<Vec<_>>());
    let soft: Vec<f32> = (0..ROWS)
        .flat_map(|i| {
            let p = 0.2 + 0.6 * (i % 2) as f32;
            [p, 1.0 - p]
        })
        .collect();
    let targets = Tensor::from_vec(soft, (ROWS, 2), &Device::Cpu)?;
    let weights = Tensor::ones(ROWS, candle_core::DType::F32, &Device::Cpu)?;
    let mut opt = Optimizer::new(OptimizerConfig::adamw(1e-4))?;
    let mut fastest = f64::INFINITY;
    for step in 0..=STEPS {
        let start = Instant::now();
        student.train_step(&mut opt, &batch, &targets, &weights)?;
        if step > 0 {
            fastest = fastest.min(start.elapsed().as_secs_f64());
        }
    }
    println!("{{\"steps_per_s\": {}}}", 1.0 / fastest);
    Ok(())
}
