//! A GGUF file (llama.cpp's format) opened as a model: config from its
//! metadata, tokenizer rebuilt from its metadata, weights dequantized to
//! f32 on load.
//!
//! - `header`: metadata and tensor infos, with errors that name the
//!   offset and the key or tensor, and every tensor's data range checked
//!   against the file size before anything is loaded.
//! - `config`: the [`ModelConfig`] from `<arch>.*` keys
//!   (`general.architecture` llama, mistral, qwen2 or qwen3).
//! - `tokenizer`: byte-level BPE rebuilt as `transformers` rebuilds it.
//! - `names`: Hugging Face tensor names to GGUF names, so the decoder
//!   loads from a GGUF through the same [`WeightFiles`](crate::weights::WeightFiles)
//!   calls as from safetensors.
//! - [`writer`]: a random model written as llama.cpp would, for tests.
//!
//! llama.cpp's converter permutes the q and k rows of Llama and Mistral
//! models for its interleaved RoPE; [`GgufFile::load`] undoes it as
//! `transformers`' `LlamaTensorProcessor._reverse_permute_weights` does.
//! A dequantized model is the quantized model, not the original bf16
//! checkpoint: its hidden states differ from the original's.

mod config;
mod header;
mod names;
mod tokenizer;
pub mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::TensorInfo;
use candle_core::{Device, Tensor};

use crate::config::ModelConfig;
use crate::error::{LmError, Result};
use crate::mapped::{map_file, sha256_of};

pub(crate) use tokenizer::RebuildError;

/// An opened GGUF file: mapped, hashed, header parsed, config read.
pub struct GgufFile {
    path: PathBuf,
    map: memmap2::Mmap,
    header: header::Header,
    config: ModelConfig,
    sha256: String,
}

impl GgufFile {
    /// The mapped file (for [`crate::weights::WeightFiles::release_pages`]).
    pub(crate) fn map(&self) -> &memmap2::Mmap {
        &self.map
    }

    /// Maps, hashes and parses `path`, and reads the model config from its
    /// metadata.
    pub fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let header = header::read(&map).map_err(|e| gguf_err(path, e))?;
        let config = config::model_config(&header).map_err(|e| gguf_err(path, e))?;
        let sha256 = sha256_of(path, &map);
        Ok(Self {
            path: path.to_path_buf(),
            map,
            header,
            config,
            sha256,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The config its metadata describes.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// sha256 of the whole file (lowercase hex).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// How many tensors the file stores in each GGML type, e.g.
    /// `{"F32": 61, "Q4_1": 211}`.
    pub fn quant_types(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for t in self.header.tensors.values() {
            *counts.entry(header::type_name(t.type_id)).or_insert(0) += 1;
        }
        counts
    }

    /// The tokenizer rebuilt from the metadata.
    pub(crate) fn tokenizer(&self) -> std::result::Result<tokenizers::Tokenizer, RebuildError> {
        tokenizer::rebuild(&self.header.metadata)
    }

    fn entry(&self, hf_name: &str) -> Option<(names::GgufName, &header::TensorEntry)> {
        let permutes = config::permutes_qk(self.config.family);
        let name = names::gguf_name(hf_name, permutes)?;
        let entry = self.header.tensors.get(&name.name)?;
        Some((name, entry))
    }

    /// Whether the tensor the Hugging Face name `hf_name` stands for exists.
    pub fn contains(&self, hf_name: &str) -> bool {
        self.entry(hf_name).is_some()
    }

    /// The tensor the Hugging Face name `hf_name` stands for, dequantized
    /// to f32 on `device`, un-permuted where llama.cpp permuted it, and
    /// checked to have `shape`.
    pub fn load(&self, hf_name: &str, shape: &[usize], device: &Device) -> Result<Tensor> {
        let Some((name, entry)) = self.entry(hf_name) else {
            let gguf = names::gguf_name(hf_name, false).map_or_else(|| "none".into(), |n| n.name);
            return Err(gguf_err(
                &self.path,
                format!("no tensor for {hf_name} (GGUF name {gguf})"),
            ));
        };
        let gname = &name.name;
        let type_name = header::type_name(entry.type_id);
        let Some(dtype) = header::supported_type(entry.type_id) else {
            return Err(gguf_err(
                &self.path,
                format!(
                    "tensor {gname} is stored as {type_name}, a type this crate cannot dequantize (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)"
                ),
            ));
        };
        if entry.shape != shape {
            return Err(gguf_err(
                &self.path,
                format!(
                    "{gname} has shape {:?}; the metadata implies {shape:?}",
                    entry.shape
                ),
            ));
        }
        let info = TensorInfo {
            ggml_dtype: dtype,
            shape: entry.shape.clone().into(),
            offset: entry.offset,
        };
        let mut reader = std::io::Cursor::new(&self.map[..]);
        let read_err = |e: candle_core::Error| {
            gguf_err(&self.path, format!("tensor {gname} ({type_name}): {e}"))
        };
        let q = info
            .read(&mut reader, self.header.data_offset, &Device::Cpu)
            .map_err(read_err)?;
        let mut t = q.dequantize(&Device::Cpu).map_err(read_err)?;
        if let Some(which) = name.permuted_heads {
            let heads = match which {
                names::Permuted::Query => self.config.num_heads,
                names::Permuted::Key => self.config.num_kv_heads,
            };
            t = reverse_permute(&t, heads)?;
        }
        Ok(t.to_device(device)?)
    }
}

/// Undoes llama.cpp's `permute(w, n_head)`: the stored rows of each head,
/// `(dim/2, 2)`, go back to `(2, dim/2)` (transformers'
/// `_reverse_permute_weights`). Works on a weight `(rows, cols)` and on a
/// bias `(rows)`.
fn reverse_permute(t: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = t.dims().to_vec();
    let rows = dims[0];
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        return Err(LmError::invalid(
            "q/k weight",
            format!("{rows} rows are not a whole number of {heads} heads of even width"),
        ));
    }
    let half = rows / heads / 2;
    let cols: usize = dims[1..].iter().product();
    let out = t
        .reshape((heads, half, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)?;
    Ok(out)
}

pub(crate) fn gguf_err(path: &Path, problem: impl Into<String>) -> LmError {
    LmError::Gguf {
        file: path.to_path_buf(),
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests;
