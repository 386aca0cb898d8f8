//! `config.json`: which family, which shapes.
//!
//! Two stages, as everywhere in w2s: [`ConfigFile`] is the part of a
//! Hugging Face `config.json` this crate reads (other fields are ignored:
//! real configs carry dozens that do not shape the forward), and
//! [`ModelConfig`] is the validated form, built only by
//! [`ModelConfig::parse`], which names the first problem it finds.
//!
//! The family decides what the config leaves implicit: Qwen2 (also
//! Qwen1.5 and Qwen2.5) has biases on q/k/v and none elsewhere; Qwen3 has
//! no biases, an RMSNorm on each query and key head, and an explicit
//! `head_dim`; Llama and Mistral have biases only when `attention_bias`
//! says so.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{LmError, Result};

/// The model families this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `LlamaForCausalLM` (Llama 2, Llama 3.x, and models that reuse it).
    Llama,
    /// `MistralForCausalLM` (the Llama block; sliding-window attention,
    /// which equals full attention for sequences up to the window).
    Mistral,
    /// `Qwen2ForCausalLM` (Qwen1.5, Qwen2, Qwen2.5): q/k/v biases.
    Qwen2,
    /// `Qwen3ForCausalLM`: per-head q/k RMSNorm, no biases.
    Qwen3,
}

impl Family {
    /// Every family, in a fixed order.
    pub const ALL: [Family; 4] = [Family::Llama, Family::Mistral, Family::Qwen2, Family::Qwen3];

    /// The Hugging Face architecture name (`architectures[0]`).
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Llama => "LlamaForCausalLM",
            Family::Mistral => "MistralForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Qwen3 => "Qwen3ForCausalLM",
        }
    }

    /// The Hugging Face `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        }
    }

    fn from_architecture(name: &str) -> Option<Self> {
        // The base-model classes name the same weights.
        let name = name
            .strip_suffix("ForCausalLM")
            .or(name.strip_suffix("Model"))?;
        Self::ALL
            .into_iter()
            .find(|f| f.architecture().strip_suffix("ForCausalLM") == Some(name))
    }

    fn from_model_type(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.model_type() == name)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// RoPE frequency scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor` (`rope_type = "linear"`).
    Linear {
        /// The divisor.
        factor: f32,
    },
    /// Llama 3.1's frequency-dependent scaling (`rope_type = "llama3"`).
    Llama3 {
        /// Scale of the low frequencies.
        factor: f32,
        /// Wavelength bound of the low band (in units of the original context).
        low_freq_factor: f32,
        /// Wavelength bound of the high band.
        high_freq_factor: f32,
        /// The context length the model was pretrained with.
        original_max_position_embeddings: f32,
    },
}

/// The fields of `config.json` this crate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigFile {
    /// `architectures`, e.g. `["Qwen2ForCausalLM"]`.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// `model_type`, e.g. `qwen2`.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Residual width.
    pub hidden_size: Option<usize>,
    /// MLP width.
    pub intermediate_size: Option<usize>,
    /// Decoder blocks.
    pub num_hidden_layers: Option<usize>,
    /// Query heads.
    pub num_attention_heads: Option<usize>,
    /// Key/value heads (defaults to the query heads).
    pub num_key_value_heads: Option<usize>,
    /// Per-head width (defaults to `hidden_size / num_attention_heads`).
    pub head_dim: Option<usize>,
    /// Vocabulary rows of the embedding.
    pub vocab_size: Option<usize>,
    /// RMSNorm epsilon.
    pub rms_norm_eps: Option<f64>,
    /// RoPE base (older configs).
    pub rope_theta: Option<f64>,
    /// RoPE scaling (older configs).
    pub rope_scaling: Option<BTreeMap<String, serde_json::Value>>,
    /// RoPE base and scaling (transformers 5 configs).
    pub rope_parameters: Option<BTreeMap<String, serde_json::Value>>,
    /// Activation of the MLP gate.
    pub hidden_act: Option<String>,
    /// Llama/Mistral: biases on q/k/v/o.
    pub attention_bias: Option<bool>,
    /// Llama: biases on the MLP.
    pub mlp_bias: Option<bool>,
    /// Longest context.
    pub max_position_embeddings: Option<usize>,
    /// Mistral/Qwen2: the attention window, if any.
    pub sliding_window: Option<serde_json::Value>,
    /// Qwen2/Qwen3: whether the window is used at all.
    pub use_sliding_window: Option<bool>,
    /// Begin-of-sequence token id (an integer, a list, or null).
    pub bos_token_id: Option<serde_json::Value>,
    /// End-of-sequence token id(s).
    pub eos_token_id: Option<serde_json::Value>,
}

/// A validated model config.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The family.
    pub family: Family,
    /// Residual width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (divides `num_heads`).
    pub num_kv_heads: usize,
    /// Per-head width (even).
    pub head_dim: usize,
    /// Embedding rows.
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Biases on q, k and v.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// Per-head RMSNorm on queries and keys (Qwen3).
    pub qk_norm: bool,
    /// The attention window, when the model uses one: sequences longer
    /// than it are refused (this crate implements full attention only).
    pub sliding_window: Option<usize>,
    /// The special token ids `config.json` names (bos, eos): a tokenizer
    /// that lacks one of them belongs to another model.
    pub special_token_ids: Vec<u32>,
}

impl ModelConfig {
    /// Reads and validates `dir/config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => config_err(dir, "missing (not a model directory?)"),
            _ => LmError::io(&path, e),
        })?;
        Self::parse(dir, &text)
    }

    /// Validates the text of a `config.json`; `dir` only names it in errors.
    pub fn parse(dir: &Path, text: &str) -> Result<Self> {
        let file: ConfigFile = serde_json::from_str(text)
            .map_err(|e| config_err(dir, format!("not a valid config: {e}")))?;
        let bad = |m: String| Err(config_err(dir, m));
        let family = match (file.architectures.first(), &file.model_type) {
            (Some(arch), _) => match Family::from_architecture(arch) {
                Some(f) => f,
                None => return bad(format!("unknown architecture {arch:?}; {}", supported())),
            },
            (None, Some(t)) => match Family::from_model_type(t) {
                Some(f) => f,
                None => return bad(format!("unknown model_type {t:?}; {}", supported())),
            },
            (None, None) => {
                return bad(format!(
                    "names no architecture (`architectures` or `model_type`); {}",
                    supported()
                ));
            }
        };
        let need = |v: Option<usize>, name: &str| match v {
            Some(v) if v > 0 => Ok(v),
            Some(_) => Err(config_err(dir, format!("{name} must be positive"))),
            None => Err(config_err(dir, format!("{name} is missing"))),
        };
        let hidden_size = need(file.hidden_size, "hidden_size")?;
        let num_heads = need(file.num_attention_heads, "num_attention_heads")?;
        let num_kv_heads = need(
            file.num_key_value_heads.or(Some(num_heads)),
            "num_key_value_heads",
        )?;
        if num_heads % num_kv_heads != 0 {
            return bad(format!(
                "num_attention_heads = {num_heads} is not a multiple of num_key_value_heads = {num_kv_heads}"
            ));
        }
        let head_dim = match file.head_dim {
            Some(d) => d,
            None if hidden_size % num_heads == 0 => hidden_size / num_heads,
            None => {
                return bad(format!(
                    "hidden_size = {hidden_size} is not a multiple of num_attention_heads = {num_heads} and head_dim is not given"
                ));
            }
        };
        if head_dim == 0 || head_dim % 2 == 1 {
            return bad(format!(
                "head_dim = {head_dim} must be positive and even (RoPE)"
            ));
        }
        match file.hidden_act.as_deref() {
            None | Some("silu") => {}
            Some(other) => {
                return bad(format!("hidden_act {other:?} is not supported (only silu)"));
            }
        }
        let (rope_theta, rope_scaling) = rope(dir, &file)?;
        let attention_bias = file.attention_bias.unwrap_or(false);
        let (qkv_bias, o_bias, qk_norm) = match family {
            Family::Qwen2 => (true, false, false),
            Family::Qwen3 => (attention_bias, attention_bias, true),
            Family::Llama | Family::Mistral => (attention_bias, attention_bias, false),
        };
        let sliding_window = match (&file.sliding_window, file.use_sliding_window, family) {
            (_, Some(false), _) => None,
            // Qwen2 and Qwen3 configs carry a window they do not use unless
            // `use_sliding_window` says so.
            (_, None, Family::Qwen2 | Family::Qwen3) => None,
            (None | Some(serde_json::Value::Null), _, _) => None,
            (Some(v), _, _) => match v.as_u64() {
                Some(w) if w > 0 => Some(w as usize),
                _ => return bad(format!("sliding_window = {v} is not a positive integer")),
            },
        };
        Ok(Self {
            family,
            hidden_size,
            intermediate_size: need(file.intermediate_size, "intermediate_size")?,
            num_layers: need(file.num_hidden_layers, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size: need(file.vocab_size, "vocab_size")?,
            rms_norm_eps: file.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            qkv_bias,
            o_bias,
            mlp_bias: file.mlp_bias.unwrap_or(false) && matches!(family, Family::Llama),
            qk_norm,
            sliding_window,
            special_token_ids: special_ids(&file),
        })
    }

    /// The default feature layer: the middle of the stack, `num_layers / 2`
    /// (EleutherAI's w2s default).
    pub fn middle_layer(&self) -> usize {
        self.num_layers / 2
    }
}

fn special_ids(file: &ConfigFile) -> Vec<u32> {
    let mut ids = Vec::new();
    for v in [&file.bos_token_id, &file.eos_token_id]
        .into_iter()
        .flatten()
    {
        let one = |v: &serde_json::Value| v.as_u64().and_then(|i| u32::try_from(i).ok());
        match v {
            serde_json::Value::Array(items) => ids.extend(items.iter().filter_map(one)),
            other => ids.extend(one(other)),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn supported() -> String {
    let names: Vec<&str> = Family::ALL.iter().map(|f| f.architecture()).collect();
    format!("supported: {}", names.join(", "))
}

fn config_err(dir: &Path, problem: impl Into<String>) -> LmError {
    LmError::Config {
        dir: dir.to_path_buf(),
        problem: problem.into(),
    }
}

/// RoPE base and scaling, from `rope_parameters` (transformers 5) or
/// `rope_theta`/`rope_scaling` (older configs).
fn rope(dir: &Path, file: &ConfigFile) -> Result<(f64, RopeScaling)> {
    let params = file.rope_parameters.as_ref().or(file.rope_scaling.as_ref());
    let theta = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(|v| v.as_f64())
        .or(file.rope_theta)
        .unwrap_or(10_000.0);
    let Some(p) = params else {
        return Ok((theta, RopeScaling::None));
    };
    let kind = p
        .get("rope_type")
        .or(p.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let num = |name: &str| -> Result<f32> {
        p.get(name)
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .ok_or_else(|| {
                config_err(
                    dir,
                    format!("rope scaling {kind:?} needs a number `{name}`"),
                )
            })
    };
    let scaling = match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: num("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: num("factor")?,
            low_freq_factor: num("low_freq_factor")?,
            high_freq_factor: num("high_freq_factor")?,
            original_max_position_embeddings: num("original_max_position_embeddings")?,
        },
        other => {
            return Err(config_err(
                dir,
                format!("rope_type {other:?} is not supported (default, linear, llama3)"),
            ));
        }
    };
    Ok((theta, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ModelConfig> {
        ModelConfig::parse(Path::new("m"), json)
    }

    const QWEN3: &str = r#"{"architectures":["Qwen3ForCausalLM"],"hidden_size":2560,
        "intermediate_size":9728,"num_hidden_layers":36,"num_attention_heads":32,
        "num_key_value_heads":8,"head_dim":128,"vocab_size":151936,"rms_norm_eps":1e-6,
        "rope_theta":1000000,"hidden_act":"silu","attention_bias":false,
        "sliding_window":null,"use_sliding_window":false}"#;

    #[test]
    fn qwen3_4b_base_shapes() {
        // The numbers of Qwen/Qwen3-4B-Base's config.json.
        let c = parse(QWEN3).unwrap();
        assert_eq!(c.family, Family::Qwen3);
        assert_eq!((c.head_dim, c.num_kv_heads, c.num_layers), (128, 8, 36));
        assert!(c.qk_norm && !c.qkv_bias);
        assert_eq!(c.middle_layer(), 18);
        assert_eq!(c.rope_theta, 1e6);
    }

    #[test]
    fn unknown_and_missing_architectures_are_named() {
        let e = parse(r#"{"architectures":["GPT2LMHeadModel"]}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown architecture \"GPT2LMHeadModel\""),
            "{e}"
        );
        assert!(e.to_string().contains("Qwen3ForCausalLM"), "{e}");
        let e = parse(r#"{"hidden_size":4}"#).unwrap_err();
        assert!(e.to_string().contains("names no architecture"), "{e}");
        let e = parse(&QWEN3.replace("\"hidden_size\":2560,", "")).unwrap_err();
        assert!(e.to_string().contains("hidden_size is missing"), "{e}");
    }

    #[test]
    fn rope_parameters_of_transformers_5_and_llama3_scaling() {
        let json = QWEN3.replace(
            "\"rope_theta\":1000000",
            r#""rope_parameters":{"rope_theta":500000.0,"rope_type":"llama3","factor":32.0,
               "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
        );
        let c = parse(&json).unwrap();
        assert_eq!(c.rope_theta, 5e5);
        assert!(matches!(
            c.rope_scaling,
            RopeScaling::Llama3 { factor: 32.0, .. }
        ));
        let yarn = json.replace("llama3", "yarn");
        assert!(
            parse(&yarn)
                .unwrap_err()
                .to_string()
                .contains("\"yarn\" is not supported")
        );
    }
}
