//! One `lm-lora` train step on a real model (SmolLM2-135M-Instruct,
//! dequantized from its Q4_1 GGUF) against PyTorch + peft on the CPU, same
//! run: rank 32 on the seven projections of every block, the label-token
//! readout, a batch of 8 rows of 64 tokens, weighted soft cross-entropy,
//! AdamW (`bench/torch_lora.py` is the twin). One untimed step, then
//! [`STEPS`] timed ones; the fastest counts.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use candle_core::{Device, Tensor};
use w2s_lm::ModelDir;
use w2s_lm::lora::Target;
use w2s_train::lora::{Backbone, LoraSpec, LoraStudent, Readout};
use w2s_train::lora_tokens::TokenSet;
use w2s_train::optim::{Optimizer, OptimizerConfig};

use crate::guest::repo;

/// The model (see `docs/REAL_MODELS.md`).
const MODEL: &str = "/work/cache/hf/smollm2-135m-instruct";
/// Rows per batch.
const ROWS: usize = 8;
/// Tokens per row.
const TOKENS: usize = 64;
/// Adapter rank.
const RANK: u32 = 32;
/// Timed steps per side.
const STEPS: usize = 3;
/// The two label tokens of the readout (any two ids of the vocabulary).
const LABELS: [u32; 2] = [3_456, 7_890];

/// Token id `j` of row `i` (deterministic, away from the special tokens
/// at the start of the vocabulary; `bench/torch_lora.py` computes the
/// same).
fn token(i: usize, j: usize, vocab: usize) -> u32 {
    (100 + (i * 7_919 + j * 104_729) % (vocab - 100)) as u32
}

/// The figures of the pair, or `None` when the model is not there yet.
pub(crate) struct Figures {
    /// w2s steps per second.
    pub(crate) rust_steps_per_s: f64,
    /// PyTorch + peft steps per second, or why it did not run.
    pub(crate) torch_steps_per_s: Result<f64, String>,
    /// Threads on both sides.
    pub(crate) threads: usize,
    /// 1-minute load average when the pair started.
    pub(crate) load: Option<f64>,
}

/// Measures both sides with `threads` threads.
pub(crate) fn measure(threads: usize) -> Result<Option<Figures>> {
    let dir = Path::new(MODEL);
    if !dir.join("DONE").exists() {
        eprintln!("  LoRA step: {MODEL} is not ready (no DONE file), skipped");
        return Ok(None);
    }
    let load = crate::machine::load().map(|l| l[0]);
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
    let rust_steps_per_s = 1.0 / fastest;
    eprintln!("  LoRA step: w2s {rust_steps_per_s:.3} steps/s");
    let torch_steps_per_s = torch(dir, threads);
    match &torch_steps_per_s {
        Ok(t) => eprintln!("  LoRA step: PyTorch + peft {t:.3} steps/s"),
        Err(e) => eprintln!("  LoRA step: PyTorch did not run: {e}"),
    }
    Ok(Some(Figures {
        rust_steps_per_s,
        torch_steps_per_s,
        threads,
        load,
    }))
}

fn torch(dir: &Path, threads: usize) -> Result<f64, String> {
    let out = Command::new("python3")
        .arg(repo().join("bench/torch_lora.py"))
        .arg(dir)
        .args(["--rows", &ROWS.to_string()])
        .args(["--tokens", &TOKENS.to_string()])
        .args(["--rank", &RANK.to_string()])
        .args(["--steps", &STEPS.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--labels", &format!("{},{}", LABELS[0], LABELS[1])])
        .output()
        .map_err(|e| format!("python3 did not start: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "exit {}: {}",
            out.status,
            err.lines().last().unwrap_or("")
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable output: {e}"))?;
    v["steps_per_s"]
        .as_f64()
        .ok_or_else(|| "no steps_per_s".to_owned())
}

/// The table row (`docs/PERFORMANCE.md`, `docs/LORA.md`).
pub(crate) fn markdown(f: &Figures) -> Result<String> {
    let (torch, ratio) = match &f.torch_steps_per_s {
        Ok(t) => (format!("{t:.3}"), format!("{:.2}x", f.rust_steps_per_s / t)),
        Err(e) => (format!("did not run ({e})"), "-".to_owned()),
    };
    if !f.rust_steps_per_s.is_finite() {
        bail!("no LoRA step timed");
    }
    Ok(format!(
        "### One `lm-lora` train step\n\n\
         Steps per second of one train step (forward, backward, AdamW) of an \
         `lm-lora` student against PyTorch + peft (`bench/torch_lora.py`), \
         fastest of {STEPS} after one untimed step: rank {RANK} (alpha {}) \
         on q, k, v, o, gate, up and down of every block, the label-token \
         readout, a batch of {ROWS} rows of {TOKENS} tokens.\n\n\
         | model | threads | load | w2s steps/s | PyTorch + peft steps/s | ratio |\n\
         |---|---|---|---|---|---|\n\
         | SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized), 30 of 30 layers | {} | {} | {:.3} | {torch} | {ratio} |\n",
        2 * RANK,
        f.threads,
        f.load.map_or("unknown".to_owned(), |l| format!("{l:.2}")),
        f.rust_steps_per_s,
    ))
}
