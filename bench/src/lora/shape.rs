//! The shape of `w2s-bench`'s LoRA step pair, shared by the parent
//! (`src/lora_step.rs`, which runs PyTorch + peft and writes the row) and
//! the child that times w2s (`src/lora/child.rs`).

/// The model (see `docs/REAL_MODELS.md`).
pub(crate) const MODEL: &str = "/work/cache/hf/smollm2-135m-instruct";
/// Rows per batch.
pub(crate) const ROWS: usize = 8;
/// Tokens per row.
pub(crate) const TOKENS: usize = 64;
/// Adapter rank.
pub(crate) const RANK: u32 = 32;
/// Timed steps per side.
pub(crate) const STEPS: usize = 3;
/// The two label tokens of the readout (any two ids of the vocabulary).
pub(crate) const LABELS: [u32; 2] = [3_456, 7_890];
