//! Random-weight model directories, for tests and benchmarks.
//!
//! Nothing here can download weights, so tests build small models on the
//! fly: a valid `config.json`, `model.safetensors` with seeded random f32
//! weights, and a byte-level BPE `tokenizer.json` (every byte one token,
//! as GPT-2's byte alphabet; Llama-style models also get a `<s>` prefix).
//! The files depend only on the spec and the seed, byte for byte, so the
//! reference script (`lm/reference/make_reference.py`) and the Rust tests
//! read identical models.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};

use crate::config::Family;
use crate::error::{LmError, Result};

/// Tokens of the byte-level tokenizer: 256 bytes, then the special tokens.
pub const BYTE_TOKENS: usize = 256;

/// The shape of a random model.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomModel {
    /// Family (decides biases, q/k norms, the tokenizer's special tokens).
    pub family: Family,
    /// Residual width.
    pub hidden: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Decoder blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Per-head width, written to the config when given.
    pub head_dim: Option<usize>,
    /// Embedding rows (at least the tokenizer's 258).
    pub vocab: usize,
    /// RoPE base.
    pub rope_theta: f64,
}

impl RandomModel {
    /// A tiny model of `family` (milliseconds per forward): grouped-query
    /// attention (4 query heads over 2), and per family the feature that
    /// sets it apart: Qwen2 q/k/v biases, Qwen3 q/k norms with an explicit
    /// `head_dim` unequal to `hidden / heads`, Llama 3.1 RoPE scaling.
    pub fn tiny(family: Family) -> Self {
        Self {
            family,
            hidden: 32,
            intermediate: 64,
            layers: 3,
            heads: 4,
            kv_heads: 2,
            head_dim: matches!(family, Family::Qwen3).then_some(16),
            vocab: 300,
            rope_theta: 10_000.0,
        }
    }

    /// Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads over 2, MLP
    /// 4864) with a vocabulary of 8192 instead of 151936 (the embedding is
    /// a lookup: its size does not change the extraction's cost).
    pub fn qwen2_medium() -> Self {
        Self {
            family: Family::Qwen2,
            hidden: 896,
            intermediate: 4864,
            layers: 24,
            heads: 14,
            kv_heads: 2,
            head_dim: None,
            vocab: 8192,
            rope_theta: 1_000_000.0,
        }
    }

    fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden / self.heads)
    }

    fn special_tokens(&self) -> Vec<&'static str> {
        match self.family {
            Family::Llama | Family::Mistral => vec!["<s>", "</s>"],
            Family::Qwen2 | Family::Qwen3 => vec!["<|endoftext|>"],
        }
    }

    /// `config.json`.
    pub fn config_json(&self) -> Value {
        let special = BYTE_TOKENS as u64;
        let mut c = json!({
            "architectures": [self.family.architecture()],
            "model_type": self.family.model_type(),
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "vocab_size": self.vocab,
            "rms_norm_eps": 1e-6,
            "rope_theta": self.rope_theta,
            "hidden_act": "silu",
            "max_position_embeddings": 4096,
            "tie_word_embeddings": true,
            "torch_dtype": "float32",
        });
        let m = c.as_object_mut().expect("object");
        if let Some(d) = self.head_dim {
            m.insert("head_dim".into(), json!(d));
        }
        match self.family {
            Family::Llama => {
                m.insert("bos_token_id".into(), json!(special));
                m.insert("eos_token_id".into(), json!(special + 1));
                m.insert("attention_bias".into(), json!(false));
                m.insert(
                    "rope_scaling".into(),
                    json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
                );
            }
            Family::Mistral => {
                m.insert("bos_token_id".into(), json!(special));
                m.insert("eos_token_id".into(), json!(special + 1));
                m.insert("sliding_window".into(), json!(4096));
            }
            Family::Qwen2 | Family::Qwen3 => {
                m.insert("eos_token_id".into(), json!(special));
                m.insert("use_sliding_window".into(), json!(false));
                m.insert("attention_bias".into(), json!(false));
            }
        }
        c
    }

    /// The weights, by tensor name: `(shape, values)`.
    pub fn weights(&self, seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
        let (h, i, d) = (self.hidden, self.intermediate, self.head_dim());
        let (qd, kvd) = (self.heads * d, self.kv_heads * d);
        let mut w = BTreeMap::new();
        let mut put = |name: String, shape: Vec<usize>, center: f32, scale: f32| {
            let values = uniform(seed, &name, shape.iter().product(), center, scale);
            w.insert(name, (shape, values));
        };
        put(
            "model.embed_tokens.weight".into(),
            vec![self.vocab, h],
            0.0,
            1.0,
        );
        put("model.norm.weight".into(), vec![h], 1.0, 0.2);
        let fan = |n: usize| 1.0 / (n as f32).sqrt();
        for l in 0..self.layers {
            let p = format!("model.layers.{l}");
            put(format!("{p}.input_layernorm.weight"), vec![h], 1.0, 0.2);
            put(
                format!("{p}.post_attention_layernorm.weight"),
                vec![h],
                1.0,
                0.2,
            );
            for (name, rows) in [("q_proj", qd), ("k_proj", kvd), ("v_proj", kvd)] {
                put(
                    format!("{p}.self_attn.{name}.weight"),
                    vec![rows, h],
                    0.0,
                    fan(h),
                );
                if self.family == Family::Qwen2 {
                    put(format!("{p}.self_attn.{name}.bias"), vec![rows], 0.0, 0.1);
                }
            }
            put(
                format!("{p}.self_attn.o_proj.weight"),
                vec![h, qd],
                0.0,
                fan(qd),
            );
            if self.family == Family::Qwen3 {
                put(format!("{p}.self_attn.q_norm.weight"), vec![d], 1.0, 0.2);
                put(format!("{p}.self_attn.k_norm.weight"), vec![d], 1.0, 0.2);
            }
            put(format!("{p}.mlp.gate_proj.weight"), vec![i, h], 0.0, fan(h));
            put(format!("{p}.mlp.up_proj.weight"), vec![i, h], 0.0, fan(h));
            put(format!("{p}.mlp.down_proj.weight"), vec![h, i], 0.0, fan(i));
        }
        w
    }

    /// `tokenizer.json`: byte-level BPE over GPT-2's byte alphabet, no
    /// merges, the family's special tokens after the 256 bytes.
    pub fn tokenizer_json(&self) -> Value {
        let vocab: serde_json::Map<String, Value> = byte_alphabet()
            .into_iter()
            .enumerate()
            .map(|(id, ch)| (ch.to_string(), json!(id)))
            .collect();
        let specials = self.special_tokens();
        let added: Vec<Value> = specials
            .iter()
            .enumerate()
            .map(|(k, t)| {
                json!({"id": BYTE_TOKENS + k, "content": t, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": true})
            })
            .collect();
        let post = match self.family {
            Family::Llama | Family::Mistral => json!({
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [BYTE_TOKENS], "tokens": ["<s>"]}}
            }),
            Family::Qwen2 | Family::Qwen3 => Value::Null,
        };
        let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": byte_level,
            "post_processor": post,
            "decoder": byte_level,
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": false, "vocab": vocab, "merges": []}
        })
    }

    /// Writes `config.json`, `model.safetensors` and `tokenizer.json` into
    /// `dir` (created if missing).
    pub fn write(&self, dir: &Path, seed: u64) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| LmError::io(&path, e))
        };
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("json serializes");
        write("config.json", &pretty(&self.config_json()))?;
        write("tokenizer.json", &pretty(&self.tokenizer_json()))?;
        let weights = self.weights(seed);
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = weights
            .into_iter()
            .map(|(name, (shape, v))| {
                (
                    name,
                    shape,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(name, shape, b)| {
                TensorView::new(Dtype::F32, shape.clone(), b)
                    .map(|v| (name.as_str(), v))
                    .map_err(|e| LmError::invalid("weights", e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let path = dir.join("model.safetensors");
        safetensors::serialize_to_file(views, None, &path)
            .map_err(|e| LmError::invalid("weights", e.to_string()))
    }
}

/// GPT-2's `bytes_to_unicode`: the character that stands for each byte.
pub fn byte_alphabet() -> Vec<char> {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).expect("valid")
            } else {
                let c = char::from_u32(next).expect("valid");
                next += 1;
                c
            }
        })
        .collect()
}

/// `n` values `center + scale * u`, `u` uniform in [-1, 1), from a
/// SplitMix64 stream seeded by `seed` and the tensor's name (so the values
/// of a tensor do not depend on which other tensors exist).
fn uniform(seed: u64, name: &str, n: usize, center: f32, scale: f32) -> Vec<f32> {
    // FNV-1a of the name.
    let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) ^ seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let u = (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            center + scale * u
        })
        .collect()
}
