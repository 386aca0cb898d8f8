//! A model opened as a whole, from a Hugging Face directory
//! (`config.json`, `tokenizer.json` and `*.safetensors`) or a GGUF file
//! (config and tokenizer from its metadata, or the tokenizer from a
//! `tokenizer.json` given beside it), checked against each other and
//! hashed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use sha2::{Digest, Sha256};

use crate::config::ModelConfig;
use crate::decoder::{Decoder, check_layer};
use crate::error::{LmError, Result};
use crate::gguf::{GgufFile, RebuildError, gguf_err};
use crate::tokenizer::TextTokenizer;
use crate::weights::WeightFiles;

/// An opened model directory or GGUF file (weights mapped and hashed,
/// not yet loaded).
pub struct ModelDir {
    dir: PathBuf,
    /// The validated config.
    pub config: ModelConfig,
    /// The tokenizer, checked against the config.
    pub tokenizer: TextTokenizer,
    weights: WeightFiles,
    /// sha256 of every file that shapes the model's outputs, by file name:
    /// `config.json`, `tokenizer.json` and each weight file; for a GGUF,
    /// the file (and `tokenizer.json` when one was given).
    pub file_hashes: BTreeMap<String, String>,
}

/// Whether `path` names a GGUF file rather than a model directory: a file
/// named `*.gguf`, or any file that starts with the GGUF magic.
pub fn is_gguf(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

impl ModelDir {
    /// Opens `dir` (a model directory or a GGUF file), tokenizing to at
    /// most `max_tokens` tokens per text.
    pub fn open(dir: &Path, max_tokens: usize) -> Result<Self> {
        Self::open_with(dir, None, max_tokens)
    }

    /// Opens `path` (a model directory or a GGUF file) with the tokenizer
    /// of `tokenizer` (a `tokenizer.json`) instead of the model's own:
    /// for a GGUF whose tokenizer cannot be rebuilt from its metadata.
    pub fn open_with(path: &Path, tokenizer: Option<&Path>, max_tokens: usize) -> Result<Self> {
        if is_gguf(path) {
            return Self::open_gguf(path, tokenizer, max_tokens);
        }
        let dir = path;
        if let Some(t) = tokenizer {
            return Err(LmError::invalid(
                "tokenizer",
                format!(
                    "{} is a model directory: its own tokenizer.json is used ({} is for GGUF files)",
                    dir.display(),
                    t.display()
                ),
            ));
        }
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

    fn open_gguf(path: &Path, tokenizer: Option<&Path>, max_tokens: usize) -> Result<Self> {
        let gguf = GgufFile::open(path)?;
        let config = gguf.config().clone();
        let mut file_hashes = BTreeMap::new();
        let tokenizer = match tokenizer {
            Some(t) => {
                let bytes = std::fs::read(t).map_err(|e| LmError::io(t, e))?;
                file_hashes.insert(
                    "tokenizer.json".to_owned(),
                    hex::encode(Sha256::digest(&bytes)),
                );
                TextTokenizer::from_file(t, t, &config, max_tokens)?
            }
            None => {
                let fix = "pass the model's tokenizer.json with --tokenizer (--weak-tokenizer for the weak model)";
                let inner = gguf.tokenizer().map_err(|e| match e {
                    RebuildError::Missing => gguf_err(
                        path,
                        format!("no tokenizer metadata (tokenizer.ggml.model, tokenizer.ggml.tokens); {fix}"),
                    ),
                    RebuildError::Unsupported(m) => gguf_err(path, format!("{m}; {fix}")),
                    RebuildError::Malformed(m) => gguf_err(path, format!("tokenizer metadata: {m}")),
                })?;
                TextTokenizer::new(inner, path, &config, max_tokens)?
            }
        };
        let weights = WeightFiles::from_gguf(gguf);
        file_hashes.extend(weights.hashes().clone());
        Ok(Self {
            dir: path.to_path_buf(),
            config,
            tokenizer,
            weights,
            file_hashes,
        })
    }

    /// The GGUF file's quantization types (tensor counts by GGML type),
    /// or `None` for a Hugging Face directory.
    pub fn quant_types(&self) -> Option<BTreeMap<String, usize>> {
        self.weights.gguf().map(GgufFile::quant_types)
    }

    /// The directory (or the GGUF file).
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
