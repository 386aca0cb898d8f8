//! One `lm-lora` train step on a real model (SmolLM2-135M-Instruct,
//! dequantized from its Q4_1 GGUF) against PyTorch + peft on the CPU, same
//! run: rank 32 on the seven projections of every block, the label-token
//! readout, a batch of 8 rows of 64 tokens, weighted soft cross-entropy,
//! AdamW (`bench/torch_lora.py` is the twin). One untimed step, then
//! [`STEPS`] timed ones; the fastest counts.
//!
//! w2s's side runs in a process of its own, `w2s-bench-lora-step`
//! (`src/lora/child.rs`), started as `w2s-runner` is: an empty
//! environment but the thread count and the runner's allocator settings
//! (`w2s_runner::MALLOC_TUNABLES`). It links the system allocator, as
//! the runner does (every guest's student trains in the runner), where
//! `w2s-bench` links mimalloc, as `w2s` does; see the child's docs for why
//! that matters to this figure.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::guest::repo;

#[path = "lora/shape.rs"]
mod shape;

use shape::{LABELS, MODEL, RANK, ROWS, STEPS, TOKENS};

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
    let rust_steps_per_s = child(threads)?;
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

/// w2s's steps per second, from `w2s-bench-lora-step` beside this binary.
fn child(threads: usize) -> Result<f64> {
    let exe = std::env::current_exe()?.with_file_name("w2s-bench-lora-step");
    let out = Command::new(&exe)
        .env_clear()
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env(w2s_runner::MALLOC_TUNABLES.0, w2s_runner::MALLOC_TUNABLES.1)
        .output()
        .with_context(|| format!("{} did not start (cargo build -p w2s-bench)", exe.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{} failed ({}): {}", exe.display(), out.status, err.trim());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{}'s output", exe.display()))?;
    v["steps_per_s"]
        .as_f64()
        .with_context(|| format!("{} printed no steps_per_s", exe.display()))
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
         readout, a batch of {ROWS} rows of {TOKENS} tokens. w2s's side runs \
         in its own process (`w2s-bench-lora-step`), started as `w2s-runner` \
         is, with the system allocator and the runner's allocator settings \
         (`w2s_runner::MALLOC_TUNABLES`).\n\n\
         | model | threads | load | w2s steps/s | PyTorch + peft steps/s | ratio |\n\
         |---|---|---|---|---|---|\n\
         | SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized), 30 of 30 layers | {} | {} | {:.3} | {torch} | {ratio} |\n",
        2 * RANK,
        f.threads,
        f.load.map_or("unknown".to_owned(), |l| format!("{l:.2}")),
        f.rust_steps_per_s,
    ))
}
