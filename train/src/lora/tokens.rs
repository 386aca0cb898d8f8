//! Tokenized splits for `lm-lora` students, and the bundle's `[lm]`
//! section that names the strong model they run on.
//!
//! A bundle built from a language model holds its pool, tokenized, in
//! [`PUBLIC_POOL_TOKENS`] and its test split in [`HELDOUT_TEST_TOKENS`]:
//! `ids` `(n, max_seq_len)` u32, right-padded with 0, and `lens` `(n)`
//! u32 (each in `1..=max_seq_len`). The guest never sees either: it names
//! pool indices, and the host gathers and pads the rows.
//!
//! This module is data only. Reading a token file out of a bundle
//! ([`TokenSet::open`], [`LmSection::validate`]) lives with the bundle
//! reader, [`crate::bundle`]; loading the backbone a section names
//! ([`LmSection::load_backbone`]) lives with the backbone,
//! `crate::lora::backbone`. Both are inherent methods, so callers do not
//! see the split, and the modules do not import each other in a circle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Public file: the pool, tokenized.
pub const PUBLIC_POOL_TOKENS: &str = "public/pool_tokens.safetensors";
/// Held-out file: the test split, tokenized.
pub const HELDOUT_TEST_TOKENS: &str = "heldout/test_tokens.safetensors";
/// Longest sequence a bundle may declare.
pub const MAX_SEQ_LEN: u32 = 32_768;

/// `[lm]` in `task.toml`: the strong model an `lm-lora` student fine-tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmSection {
    /// The model directory's name (its last path component).
    pub model: String,
    /// Where the model directory was when the bundle was built (absolute);
    /// an evaluator may point elsewhere, the hashes decide.
    pub path: String,
    /// The label tokens' ids, one per class, in class order.
    pub label_token_ids: Vec<u32>,
    /// The label tokens' texts (e.g. `" A"`, `" B"`), for reports.
    pub label_tokens: Vec<String>,
    /// Longest tokenized example (and the width of the token files).
    pub max_seq_len: u32,
    /// The `tokenizer.json` given with the model (`--tokenizer`, for a GGUF
    /// whose tokenizer cannot be rebuilt from its metadata), absolute, as
    /// it was at build time; absent when the model's own tokenizer was
    /// used. Its sha256 is in `model_files` like any other file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// sha256 of `config.json`, `tokenizer.json` and every weight file, by
    /// file name: checked whenever the backbone is loaded. (Tables come
    /// after plain values: TOML needs them last.)
    pub model_files: BTreeMap<String, String>,
    /// The ceiling baseline of `lm-lora` students: this recipe on the
    /// pool's ground truth (default: the AAR's vanilla setting).
    pub ceiling: crate::lora::recipe::LoraRecipe,
}

impl LmSection {
    /// One hash over `model_files` (names and hashes in name order), as
    /// `w2s_lm::ModelDir::fingerprint` computes it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (name, hash) in &self.model_files {
            h.update(format!("{name}\t{hash}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// A tokenized split: `n` rows of at most `max_len` tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    ids: Vec<u32>,
    lens: Vec<u32>,
    max_len: usize,
}

impl TokenSet {
    /// A set from unpadded sequences (each 1 to `max_len` tokens).
    pub fn from_sequences(seqs: &[Vec<u32>], max_len: usize) -> Result<Self> {
        let mut ids = vec![0; seqs.len() * max_len];
        let mut lens = Vec::with_capacity(seqs.len());
        for (r, s) in seqs.iter().enumerate() {
            if s.is_empty() || s.len() > max_len {
                return Err(TrainError::invalid(
                    "tokens",
                    format!("sequence {r} has {} tokens, outside 1..={max_len}", s.len()),
                ));
            }
            ids[r * max_len..r * max_len + s.len()].copy_from_slice(s);
            lens.push(s.len() as u32);
        }
        Ok(Self { ids, lens, max_len })
    }

    /// A set from its stored parts (`ids` row-major, `lens` each in
    /// `1..=max_len`), as [`crate::bundle`] reads them from a bundle.
    pub(crate) fn from_parts(ids: Vec<u32>, lens: Vec<u32>, max_len: usize) -> Self {
        Self { ids, lens, max_len }
    }

    /// The safetensors bytes of this set (`ids`, `lens`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let dev = candle_core::Device::Cpu;
        let ids = candle_core::Tensor::from_slice(&self.ids, (self.len(), self.max_len), &dev)?;
        let lens = candle_core::Tensor::from_slice(&self.lens, self.len(), &dev)?;
        safetensors::serialize([("ids", &ids), ("lens", &lens)], None)
            .map_err(|e| TrainError::Checkpoint(format!("cannot serialize tokens: {e}")))
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Width of a row.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Length of row `i`.
    pub fn row_len(&self, i: usize) -> usize {
        self.lens[i] as usize
    }

    /// The padded length of a batch of `indices` (its longest row): what
    /// the forward runs on, and what the compute budget is charged for.
    pub fn padded_len(&self, indices: &[u32]) -> usize {
        indices
            .iter()
            .map(|&i| self.lens[i as usize] as usize)
            .max()
            .unwrap_or(0)
    }

    /// The rows `indices`, right-padded to their longest (indices must be
    /// in range; the caller checks them).
    pub fn batch(&self, indices: &[u32]) -> TokenBatch {
        let seq = self.padded_len(indices);
        let mut ids = Vec::with_capacity(indices.len() * seq);
        let mut mask = Vec::with_capacity(indices.len() * seq);
        let mut lens = Vec::with_capacity(indices.len());
        for &i in indices {
            let row = &self.ids[i as usize * self.max_len..][..seq];
            let len = self.lens[i as usize] as usize;
            ids.extend_from_slice(row);
            mask.extend((0..seq).map(|p| u32::from(p < len)));
            lens.push(len as u32);
        }
        TokenBatch {
            ids,
            mask,
            lens,
            seq,
        }
    }
}

/// A right-padded batch of token rows with its attention mask.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    ids: Vec<u32>,
    mask: Vec<u32>,
    lens: Vec<u32>,
    seq: usize,
}

impl TokenBatch {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.lens.len()
    }

    /// Padded length.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Token ids, `rows * seq`, row-major.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Attention mask (1 for real tokens), like [`TokenBatch::ids`].
    pub fn mask(&self) -> &[u32] {
        &self.mask
    }

    /// Real length of each row.
    pub fn lens(&self) -> &[u32] {
        &self.lens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_pad_to_their_longest_row() {
        let set = TokenSet::from_sequences(&[vec![5, 6, 7], vec![8], vec![9, 10]], 4).unwrap();
        let b = set.batch(&[1, 2]);
        assert_eq!(b.seq(), 2);
        assert_eq!(b.ids(), &[8, 0, 9, 10]);
        assert_eq!(b.mask(), &[1, 0, 1, 1]);
        assert_eq!(b.lens(), &[1, 2]);
        assert_eq!(set.padded_len(&[0, 1]), 3);
        assert!(TokenSet::from_sequences(&[vec![]], 4).is_err());
        assert!(TokenSet::from_sequences(&[vec![1; 5]], 4).is_err());
    }
}
