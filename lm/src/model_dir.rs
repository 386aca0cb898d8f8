//! A Hugging Face model directory: `config.json`, `tokenizer.json` and
//! `*.safetensors`, checked against each other and hashed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use sha2::{Digest, Sha256};

use crate::config::ModelConfig;
use crate::decoder::{Decoder, check_layer};
use crate::error::{LmError, Result};
use crate::tokenizer::TextTokenizer;
use crate::weights::WeightFiles;

/// An opened model directory (weights mapped and hashed, not yet loaded).
pub struct ModelDir {
    dir: PathBuf,
    /// The validated config.
    pub config: ModelConfig,
    /// The tokenizer, checked against the config.
    pub tokenizer: TextTokenizer,
    weights: WeightFiles,
    /// sha256 of every file that shapes the model's outputs, by file name:
    /// `config.json`, `tokenizer.json` and each weight file.
    pub file_hashes: BTreeMap<String, String>,
}

impl ModelDir {
    /// Opens `dir`, tokenizing to at most `max_tokens` tokens per text.
    pub fn open(dir: &Path, max_tokens: usize) -> Result<Self> {
        let config = ModelConfig::read(dir)?;
        let tokenizer = TextTokenizer::open(dir, &config, max_tokens)?;
        let weights = WeightFiles::open(dir)?;
        let mut file_hashes = weights.hashes().clone();
        for name in ["config.json", "tokenizer.json"] {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| LmError::io(&path, e))?;
            file_hashes.insert(name.to_owned(), hex::encode(Sha256::digest(&bytes)));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            tokenizer,
            weights,
            file_hashes,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One hash over [`ModelDir::file_hashes`] (names and hashes, in name
    /// order): identifies the model's files.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (name, hash) in &self.file_hashes {
            h.update(format!("{name}\t{hash}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Resolves a requested layer: `None` is the middle of the stack;
    /// anything above `num_layers` is an error naming the range.
    pub fn layer(&self, requested: Option<usize>) -> Result<usize> {
        let layer = requested.unwrap_or_else(|| self.config.middle_layer());
        check_layer(&self.config, layer)?;
        Ok(layer)
    }

    /// The memory-mapped weight files.
    pub fn weights(&self) -> &WeightFiles {
        &self.weights
    }

    /// Loads the decoder up to `layer` on `device`.
    pub fn decoder(&self, layer: usize, device: &Device) -> Result<Decoder> {
        Decoder::load(&self.weights, &self.config, layer, device)
    }
}
