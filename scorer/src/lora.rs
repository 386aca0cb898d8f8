//! Scoring `lm-lora` students: the strong model (hashes verified) and the
//! tokenized test split, read only here and never by the process that
//! runs guest code.

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use w2s_train::lora::{Backbone, LoraStudent};
use w2s_train::lora_recipe::predict_all;
use w2s_train::lora_tokens::{HELDOUT_TEST_TOKENS, LmSection, PUBLIC_POOL_TOKENS, TokenSet};
use w2s_train::{checkpoint, recipe};

use crate::error::ScorerError;
use crate::heldout::Heldout;

/// Rows per forward while predicting.
const PREDICT_CHUNK: usize = 16;

/// The `lm-lora` part of a bundle, loaded.
pub struct LoraHeldout {
    /// `[lm]`.
    pub section: LmSection,
    /// The strong model.
    pub backbone: Arc<Backbone>,
    /// The pool, tokenized.
    pub pool_tokens: TokenSet,
    /// The test split, tokenized.
    pub test_tokens: TokenSet,
}

impl LoraHeldout {
    /// Loads the strong model and both token files of the bundle at `dir`;
    /// an error when the bundle has no `[lm]` section.
    pub fn open(dir: &Path, h: &Heldout, device: &Device) -> Result<Self, ScorerError> {
        let section = h.manifest.lm.clone().ok_or_else(|| {
            ScorerError::CheckpointMismatch(
                "an lm-lora student, but the task has no strong language model ([lm])".to_owned(),
            )
        })?;
        let backbone = Arc::new(section.load_backbone(None, device)?);
        let vocab = backbone.config().vocab_size as u32;
        let len = section.max_seq_len as usize;
        let m = &h.manifest;
        let pool_tokens = TokenSet::open(
            dir,
            m,
            PUBLIC_POOL_TOKENS,
            m.splits.pool as usize,
            len,
            vocab,
        )?;
        let test_tokens = TokenSet::open(
            dir,
            m,
            HELDOUT_TEST_TOKENS,
            m.splits.test as usize,
            len,
            vocab,
        )?;
        Ok(Self {
            section,
            backbone,
            pool_tokens,
            test_tokens,
        })
    }

    /// A student from its checkpoint (format, model fingerprint, shapes
    /// checked).
    pub fn student(&self, bytes: &[u8]) -> Result<LoraStudent, ScorerError> {
        Ok(checkpoint::lora_from_bytes(
            bytes,
            self.backbone.clone(),
            &self.section.fingerprint(),
        )?)
    }

    /// The predicted class of every test example.
    pub fn predict(&self, student: &LoraStudent) -> Result<Vec<u32>, ScorerError> {
        let probs = predict_all(student, &self.test_tokens, PREDICT_CHUNK)?;
        Ok(recipe::argmax_rows(&probs, self.backbone.classes()))
    }
}
