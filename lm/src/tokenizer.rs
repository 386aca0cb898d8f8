//! `tokenizer.json`, through the `tokenizers` crate: batched encoding,
//! truncation from the left (the end of a prompt, where the AAR's
//! `Label:` cue sits, is what last-token pooling reads), and right padding
//! with attention masks.

use std::path::{Path, PathBuf};

use tokenizers::utils::padding::{PaddingDirection, PaddingParams, PaddingStrategy, pad_encodings};
use tokenizers::utils::truncation::{TruncationDirection, TruncationParams, TruncationStrategy};
use tokenizers::{Encoding, Tokenizer};

use crate::config::ModelConfig;
use crate::error::{LmError, Result};

/// A padded batch: `ids` and `mask` are `batch * seq`, row-major; `lens`
/// holds each row's real length (its mask's sum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Token ids (padding positions hold the pad id).
    pub ids: Vec<u32>,
    /// 1 for a real token, 0 for padding.
    pub mask: Vec<u32>,
    /// Real tokens per row.
    pub lens: Vec<usize>,
    /// Rows.
    pub batch: usize,
    /// Columns (the longest row).
    pub seq: usize,
}

/// A model's tokenizer, checked against its config.
pub struct TextTokenizer {
    dir: PathBuf,
    inner: Tokenizer,
}

/// Makes `inner` keep the last `max_tokens` tokens of a text (`dir` names
/// it in errors).
fn truncate_left(inner: &mut Tokenizer, max_tokens: usize, dir: &Path) -> Result<()> {
    if max_tokens == 0 {
        return Err(LmError::invalid("max tokens", "must be positive"));
    }
    inner
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Left,
            max_length: max_tokens,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| tok_err(dir, format!("cannot truncate to {max_tokens} tokens: {e}")))?;
    Ok(())
}

impl TextTokenizer {
    /// Reads `dir/tokenizer.json` and checks that it fits `config`: every
    /// token id it can produce is a row of the embedding, and the special
    /// token ids that `config.json` names exist in it.
    pub fn open(dir: &Path, config: &ModelConfig, max_tokens: usize) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(tok_err(dir, "missing"));
        }
        Self::from_file(&path, dir, config, max_tokens)
    }

    /// Reads the tokenizer file `path` (`origin` names it in errors) and
    /// checks it against `config` as [`TextTokenizer::open`] does.
    pub fn from_file(
        path: &Path,
        origin: &Path,
        config: &ModelConfig,
        max_tokens: usize,
    ) -> Result<Self> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| tok_err(origin, format!("cannot be read: {e}")))?;
        Self::new(inner, origin, config, max_tokens)
    }

    /// Checks an in-memory tokenizer against `config` as
    /// [`TextTokenizer::open`] does; `origin` names it in errors.
    pub fn new(
        mut inner: Tokenizer,
        origin: &Path,
        config: &ModelConfig,
        max_tokens: usize,
    ) -> Result<Self> {
        let dir = origin;
        let size = inner.get_vocab_size(true);
        if size > config.vocab_size {
            return Err(tok_err(
                dir,
                format!(
                    "does not match the model: it has {size} tokens, config.json's vocab_size is {}",
                    config.vocab_size
                ),
            ));
        }
        for &id in &config.special_token_ids {
            if inner.id_to_token(id).is_none() {
                return Err(tok_err(
                    dir,
                    format!(
                        "does not match the model: config.json names special token id {id}, which this tokenizer ({size} tokens) does not have"
                    ),
                ));
            }
        }
        truncate_left(&mut inner, max_tokens, dir)?;
        inner.with_padding(None);
        Ok(Self {
            dir: dir.to_path_buf(),
            inner,
        })
    }

    /// The same tokenizer truncating to `max_tokens` instead: for a
    /// tokenizer rebuilt from a GGUF as well as one read from a directory
    /// (there is no file to read again).
    pub fn truncated_to(&self, max_tokens: usize) -> Result<Self> {
        let mut inner = self.inner.clone();
        truncate_left(&mut inner, max_tokens, &self.dir)?;
        Ok(Self {
            dir: self.dir.clone(),
            inner,
        })
    }

    /// Encodes `texts` (special tokens added, truncated to the last
    /// `max_tokens` tokens), unpadded, in order.
    pub fn encode_all(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| tok_err(&self.dir, format!("cannot encode: {e}")))?;
        if let Some(i) = encodings.iter().position(|e| e.is_empty()) {
            return Err(LmError::invalid(
                "text",
                format!("text {i} encodes to no token"),
            ));
        }
        Ok(encodings)
    }

    /// The id of `text` when it encodes (without special tokens) to
    /// exactly one token.
    pub fn single_token(&self, text: &str) -> Result<Option<u32>> {
        let e = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err(&self.dir, format!("cannot encode: {e}")))?;
        Ok(match e.get_ids() {
            [id] => Some(*id),
            _ => None,
        })
    }

    /// Pads `encodings` on the right to the longest one; padding positions
    /// get id 0 (they are masked, so any valid row of the embedding would
    /// do) and mask 0.
    pub fn pad(&self, encodings: &[Encoding]) -> Result<Batch> {
        let mut padded = encodings.to_vec();
        let params = PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id: 0,
            pad_type_id: 0,
            pad_token: String::new(),
        };
        pad_encodings(&mut padded, &params)
            .map_err(|e| tok_err(&self.dir, format!("cannot pad: {e}")))?;
        let seq = padded.first().map_or(0, Encoding::len);
        let mut batch = Batch {
            ids: Vec::with_capacity(padded.len() * seq),
            mask: Vec::with_capacity(padded.len() * seq),
            lens: Vec::with_capacity(padded.len()),
            batch: padded.len(),
            seq,
        };
        for e in &padded {
            batch.ids.extend_from_slice(e.get_ids());
            batch.mask.extend_from_slice(e.get_attention_mask());
            batch
                .lens
                .push(e.get_attention_mask().iter().filter(|&&m| m != 0).count());
        }
        Ok(batch)
    }
}

fn tok_err(dir: &Path, problem: impl Into<String>) -> LmError {
    LmError::Tokenizer {
        dir: dir.to_path_buf(),
        problem: problem.into(),
    }
}
