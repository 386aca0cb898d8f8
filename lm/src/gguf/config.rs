//! A [`ModelConfig`] from GGUF metadata (llama.cpp's keys,
//! `<arch>.embedding_length` and so on), the way `transformers`'
//! `gguf_config_mapping.py` reads them.

use std::collections::BTreeMap;

use candle_core::quantized::gguf_file::Value;

use crate::config::{Family, ModelConfig, RopeScaling};
use crate::gguf::header::Header;

/// The family of a GGUF `general.architecture`, or an error naming it.
pub(crate) fn family(arch: &str) -> Result<Family, String> {
    match arch {
        "llama" => Ok(Family::Llama),
        "mistral" => Ok(Family::Mistral),
        "qwen2" => Ok(Family::Qwen2),
        "qwen3" => Ok(Family::Qwen3),
        other => Err(format!(
            "general.architecture {other:?} is not supported (llama, mistral, qwen2, qwen3)"
        )),
    }
}

/// Whether llama.cpp's converter permuted this family's q and k weights
/// for its interleaved RoPE (`LlamaModel.permute`, which Mistral
/// inherits; Qwen2 and Qwen3 are converted as they are).
pub(crate) fn permutes_qk(family: Family) -> bool {
    matches!(family, Family::Llama | Family::Mistral)
}

/// A metadata value as an unsigned integer, if it is one.
pub(crate) fn uint(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(u64::from(x)),
        Value::U16(x) => Some(u64::from(x)),
        Value::U32(x) => Some(u64::from(x)),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match *v {
        Value::F32(x) => Some(f64::from(x)),
        Value::F64(x) => Some(x),
        _ => uint(v).map(|x| x as f64),
    }
}

/// Reads the config of a GGUF's metadata and tensor shapes.
pub(crate) fn model_config(header: &Header) -> Result<ModelConfig, String> {
    let meta = &header.metadata;
    let arch = match meta.get("general.architecture") {
        Some(Value::String(a)) => a.clone(),
        Some(other) => return Err(format!("general.architecture is {other:?}, not a string")),
        None => return Err("no general.architecture in the metadata".into()),
    };
    let family = family(&arch)?;
    let key = |k: &str| format!("{arch}.{k}");
    let get_uint = |k: &str| -> Result<Option<usize>, String> {
        match meta.get(&key(k)) {
            None => Ok(None),
            Some(v) => match uint(v) {
                Some(x) if x > 0 => Ok(Some(x as usize)),
                _ => Err(format!("{} = {v:?} is not a positive integer", key(k))),
            },
        }
    };
    let need = |k: &str| get_uint(k)?.ok_or_else(|| format!("no {} in the metadata", key(k)));
    let get_float = |k: &str| -> Result<Option<f64>, String> {
        match meta.get(&key(k)) {
            None => Ok(None),
            Some(v) => float(v)
                .map(Some)
                .ok_or_else(|| format!("{} = {v:?} is not a number", key(k))),
        }
    };
    let hidden_size = need("embedding_length")?;
    let num_heads = need("attention.head_count")?;
    let num_kv_heads = get_uint("attention.head_count_kv")?.unwrap_or(num_heads);
    if num_heads % num_kv_heads != 0 {
        return Err(format!(
            "{} = {num_heads} is not a multiple of {} = {num_kv_heads}",
            key("attention.head_count"),
            key("attention.head_count_kv")
        ));
    }
    let head_dim = match get_uint("attention.key_length")? {
        Some(d) => d,
        None if hidden_size % num_heads == 0 => hidden_size / num_heads,
        None => {
            return Err(format!(
                "embedding_length {hidden_size} is not a multiple of head_count {num_heads}"
            ));
        }
    };
    if head_dim % 2 == 1 {
        return Err(format!("head width {head_dim} must be even (RoPE)"));
    }
    let rope_scaling = rope_scaling(meta, &arch, header)?;
    let embed = header
        .tensors
        .get("token_embd.weight")
        .ok_or("no tensor token_embd.weight")?;
    let vocab_size = match embed.shape[..] {
        [rows, cols] if cols == hidden_size => rows,
        ref s => {
            return Err(format!(
                "token_embd.weight has shape {s:?}, not (vocab, {hidden_size})"
            ));
        }
    };
    let has = |name: &str| header.tensors.contains_key(name);
    let (qkv_bias, o_bias, qk_norm) = match family {
        Family::Qwen2 => (true, false, false),
        Family::Qwen3 => (
            has("blk.0.attn_q.bias"),
            has("blk.0.attn_output.bias"),
            true,
        ),
        Family::Llama | Family::Mistral => (
            has("blk.0.attn_q.bias"),
            has("blk.0.attn_output.bias"),
            false,
        ),
    };
    let mut special_token_ids: Vec<u32> =
        ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]
            .iter()
            .filter_map(|k| meta.get(*k).and_then(uint))
            .filter_map(|id| u32::try_from(id).ok())
            .collect();
    special_token_ids.sort_unstable();
    special_token_ids.dedup();
    Ok(ModelConfig {
        family,
        hidden_size,
        intermediate_size: need("feed_forward_length")?,
        num_layers: need("block_count")?,
        num_heads,
        num_kv_heads,
        head_dim,
        vocab_size,
        rms_norm_eps: get_float("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-6),
        rope_theta: get_float("rope.freq_base")?.unwrap_or(10_000.0),
        rope_scaling,
        qkv_bias,
        o_bias,
        mlp_bias: false,
        qk_norm,
        sliding_window: None,
        special_token_ids,
    })
}

fn rope_scaling(
    meta: &BTreeMap<String, Value>,
    arch: &str,
    header: &Header,
) -> Result<RopeScaling, String> {
    if header.tensors.contains_key("rope_freqs.weight") {
        // Llama 3.1's scaling, stored as precomputed frequency factors.
        return Err("rope_freqs.weight (Llama 3.1 RoPE scaling stored as frequency factors) is not supported".into());
    }
    let kind = match meta.get(&format!("{arch}.rope.scaling.type")) {
        None => return Ok(RopeScaling::None),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "{arch}.rope.scaling.type is {other:?}, not a string"
            ));
        }
    };
    match kind.as_str() {
        "none" => Ok(RopeScaling::None),
        "linear" => {
            let factor = meta
                .get(&format!("{arch}.rope.scaling.factor"))
                .and_then(float)
                .ok_or_else(|| {
                    format!("{arch}.rope.scaling.type is linear but no {arch}.rope.scaling.factor")
                })?;
            Ok(RopeScaling::Linear {
                factor: factor as f32,
            })
        }
        other => Err(format!(
            "{arch}.rope.scaling.type {other:?} is not supported (none, linear)"
        )),
    }
}
