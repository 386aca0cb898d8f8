//! Writes a [`RandomModel`] as a GGUF file the way llama.cpp's converter
//! would (its tensor names, q/k permuted for Llama and Mistral, 1-D
//! tensors kept in F32, metadata under `<arch>.*` and `tokenizer.ggml.*`),
//! for tests and benchmarks: a GGUF and a Hugging Face directory of the
//! same weights must give the same hidden states.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::config::Family;
use crate::error::{LmError, Result};
use crate::gguf::names::{Permuted, gguf_name};
use crate::random_model::{BYTE_TOKENS, RandomModel, byte_alphabet};

/// What to write.
#[derive(Debug, Clone)]
pub struct GgufSpec {
    /// The type of the 2-D weights (default F32); 1-D tensors stay F32.
    pub quant: GgmlDType,
    /// Whether to write `tokenizer.ggml.*` metadata (default true).
    pub tokenizer: bool,
    /// `general.architecture` (default: the family's model type).
    pub architecture: Option<String>,
}

impl Default for GgufSpec {
    fn default() -> Self {
        Self {
            quant: GgmlDType::F32,
            tokenizer: true,
            architecture: None,
        }
    }
}

/// llama.cpp's `permute(w, n_head)`: each head's rows `(2, dim/2)` stored
/// as `(dim/2, 2)`.
fn permute(values: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let half = rows / heads / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for two in 0..2 {
            for i in 0..half {
                let src = (h * 2 + two) * half + i;
                let dst = (h * half + i) * 2 + two;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&values[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// Writes `model` (weights of `seed`) to `path` as `spec` says.
pub fn write_gguf(model: &RandomModel, seed: u64, spec: &GgufSpec, path: &Path) -> Result<()> {
    let arch = spec
        .architecture
        .clone()
        .unwrap_or_else(|| model.family.model_type().to_owned());
    let permutes = matches!(model.family, Family::Llama | Family::Mistral);
    let mut tensors = Vec::new();
    for (hf, (shape, values)) in model.weights(seed) {
        let name = gguf_name(&hf, permutes)
            .ok_or_else(|| LmError::invalid("weights", format!("{hf} has no GGUF name")))?;
        let cols = shape.get(1).copied().unwrap_or(1);
        let values = match name.permuted_heads {
            Some(Permuted::Query) => permute(&values, shape[0], cols, model.heads),
            Some(Permuted::Key) => permute(&values, shape[0], cols, model.kv_heads),
            None => values,
        };
        let t = Tensor::from_vec(values, shape.clone(), &Device::Cpu)?;
        let dtype = if shape.len() == 2 {
            spec.quant
        } else {
            GgmlDType::F32
        };
        tensors.push((name.name, QTensor::quantize(&t, dtype)?));
    }
    let key = |k: &str| format!("{arch}.{k}");
    let u = |v: usize| Value::U32(v as u32);
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.clone())),
        (key("embedding_length"), u(model.hidden)),
        (key("block_count"), u(model.layers)),
        (key("feed_forward_length"), u(model.intermediate)),
        (key("attention.head_count"), u(model.heads)),
        (key("attention.head_count_kv"), u(model.kv_heads)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        (key("rope.freq_base"), Value::F32(model.rope_theta as f32)),
        (key("context_length"), u(4096)),
    ];
    if let Some(d) = model.head_dim {
        meta.push((key("attention.key_length"), u(d)));
        meta.push((key("attention.value_length"), u(d)));
    }
    if spec.tokenizer {
        meta.extend(tokenizer_metadata(model));
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).map_err(|e| LmError::io(path, e))?;
    gguf_file::write(&mut file, &meta_refs, &tensor_refs)?;
    Ok(())
}

/// The random model's byte-level tokenizer as `tokenizer.ggml.*` keys:
/// the 256 byte tokens (type 1, normal), the family's special tokens
/// (type 3, control), no merges; Llama and Mistral add bos.
fn tokenizer_metadata(model: &RandomModel) -> Vec<(String, Value)> {
    let specials: Vec<String> = model.tokenizer_json()["added_tokens"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["content"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut tokens: Vec<Value> = byte_alphabet()
        .into_iter()
        .map(|c| Value::String(c.to_string()))
        .collect();
    let mut types = vec![Value::I32(1); BYTE_TOKENS];
    for s in &specials {
        tokens.push(Value::String(s.clone()));
        types.push(Value::I32(3));
    }
    let id = |k: usize| Value::U32((BYTE_TOKENS + k) as u32);
    let mut meta = vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("default".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), Value::Array(Vec::new())),
    ];
    match model.family {
        Family::Llama | Family::Mistral => {
            meta.push(("tokenizer.ggml.bos_token_id".into(), id(0)));
            meta.push(("tokenizer.ggml.eos_token_id".into(), id(1)));
            meta.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)));
        }
        Family::Qwen2 | Family::Qwen3 => {
            meta.push(("tokenizer.ggml.eos_token_id".into(), id(0)));
            meta.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)));
        }
    }
    meta
}
