//! A `tokenizers` tokenizer rebuilt from a GGUF's `tokenizer.ggml.*`
//! metadata, the way `transformers` rebuilds it
//! (`integrations/gguf/gguf_tokenizer_mapping.py`, checked on SmolLM2 and
//! Qwen2.5 by `tests/gguf_real.rs`):
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE from
//!   `tokenizer.ggml.tokens` (respelled in the byte alphabet where a
//!   token is not) and `tokenizer.ggml.merges`; any other model is
//!   refused by name.
//! - the pre-tokenizer from `tokenizer.ggml.pre`: GPT-2's byte-level
//!   regex for `default`, `gpt-2` and `smollm` (transformers has no split
//!   of its own for them), the Qwen2 or Llama 3 split for theirs; any
//!   other value is refused by name, as transformers would silently fall
//!   back to GPT-2's regex.
//! - tokens of type 3 (control) are special added tokens, type 4 (user
//!   defined) plain added tokens; `tokenizer.ggml.add_bos_token` /
//!   `add_eos_token` put bos / eos around every text.

use std::collections::BTreeMap;

use candle_core::quantized::gguf_file::Value;
use serde_json::{Value as Json, json};
use tokenizers::Tokenizer;

use crate::gguf::config::uint;

const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token types of `tokenizer.ggml.token_type` (llama.cpp's
/// `llama_token_type`).
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// Why a tokenizer could not be rebuilt. `Missing` is a file with no
/// tokenizer metadata at all; `Unsupported` one whose tokenizer this crate
/// cannot rebuild exactly: both are answered with `--tokenizer`.
#[derive(Debug)]
pub(crate) enum RebuildError {
    /// No `tokenizer.ggml.model` / `tokenizer.ggml.tokens`.
    Missing,
    /// A value this crate does not rebuild (named in the text).
    Unsupported(String),
    /// Metadata of the wrong type or shape.
    Malformed(String),
}

/// GPT-2's byte-to-character table (`bytes_to_unicode`): printable bytes
/// stand for themselves, the others for the characters from U+0100 on.
fn byte_alphabet() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        table[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("U+0100.. are chars");
            next += 1;
            c
        };
    }
    table
}

fn strings<'a>(
    meta: &'a BTreeMap<String, Value>,
    key: &str,
) -> Result<Option<Vec<&'a str>>, RebuildError> {
    let Some(v) = meta.get(key) else {
        return Ok(None);
    };
    let Value::Array(items) = v else {
        return Err(RebuildError::Malformed(format!("{key} is not an array")));
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => Ok(s.as_str()),
            _ => Err(RebuildError::Malformed(format!("{key} holds a non-string"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn text<'a>(meta: &'a BTreeMap<String, Value>, key: &str) -> Result<Option<&'a str>, RebuildError> {
    match meta.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(RebuildError::Malformed(format!(
            "{key} is {other:?}, not a string"
        ))),
    }
}

/// The pre-tokenizer of a `tokenizer.ggml.pre` value.
fn pre_tokenizer(pre: Option<&str>) -> Result<Json, RebuildError> {
    let split = |regex: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]})
    };
    Ok(match pre {
        None | Some("default" | "gpt-2" | "gpt2" | "smollm") => {
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})
        }
        Some("qwen2" | "deepseek-r1-qwen") => split(QWEN2_SPLIT),
        Some("llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" | "dbrx") => split(LLAMA3_SPLIT),
        Some(other) => {
            return Err(RebuildError::Unsupported(format!(
                "tokenizer.ggml.pre = {other:?} is not one this crate rebuilds (default, gpt-2, smollm, qwen2, deepseek-r1-qwen, llama3, llama-bpe, smaug-bpe, dbrx)"
            )));
        }
    })
}

/// Rebuilds the tokenizer a GGUF's metadata describes.
pub(crate) fn rebuild(meta: &BTreeMap<String, Value>) -> Result<Tokenizer, RebuildError> {
    let model = text(meta, "tokenizer.ggml.model")?;
    let tokens = strings(meta, "tokenizer.ggml.tokens")?;
    let (model, tokens) = match (model, tokens) {
        (Some(m), Some(t)) => (m, t),
        _ => return Err(RebuildError::Missing),
    };
    if model != "gpt2" {
        return Err(RebuildError::Unsupported(format!(
            "tokenizer.ggml.model = {model:?} is not one this crate rebuilds (only gpt2, byte-level BPE)"
        )));
    }
    let pre = pre_tokenizer(text(meta, "tokenizer.ggml.pre")?)?;
    let merges = strings(meta, "tokenizer.ggml.merges")?.ok_or_else(|| {
        RebuildError::Malformed("no tokenizer.ggml.merges (byte-level BPE needs them)".into())
    })?;
    let types: Vec<i64> = match meta.get("tokenizer.ggml.token_type") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match *v {
                Value::I32(t) => Ok(i64::from(t)),
                Value::U32(t) => Ok(i64::from(t)),
                _ => Err(RebuildError::Malformed(
                    "tokenizer.ggml.token_type holds a non-integer".into(),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(RebuildError::Malformed(
                "tokenizer.ggml.token_type is not an array".into(),
            ));
        }
    };
    let alphabet = byte_alphabet();
    let in_alphabet = |t: &str| t.chars().all(|c| alphabet.contains(&c));
    let mut vocab = serde_json::Map::new();
    for (id, token) in tokens.iter().enumerate() {
        let spelled = if in_alphabet(token) {
            (*token).to_owned()
        } else {
            token.bytes().map(|b| alphabet[b as usize]).collect()
        };
        vocab.insert(spelled, json!(id));
    }
    let mut added = Vec::new();
    for (id, (token, &kind)) in tokens.iter().zip(&types).enumerate() {
        // A control token outside the byte alphabet is a llama.cpp
        // mislabel that transformers skips; so do we.
        let special = kind == CONTROL && in_alphabet(token);
        if special || (kind == USER_DEFINED && vocab.contains_key(*token)) {
            added.push(
                json!({"id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": special}),
            );
        }
    }
    let merges: Vec<Json> = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| RebuildError::Malformed(format!("merge {m:?} is not two tokens")))
        })
        .collect::<Result<_, _>>()?;
    let special = |flag: &str, id_key: &str| -> Result<Option<(u64, String)>, RebuildError> {
        if !matches!(meta.get(flag), Some(Value::Bool(true))) {
            return Ok(None);
        }
        let id = meta.get(id_key).and_then(uint).ok_or_else(|| {
            RebuildError::Malformed(format!("{flag} is set but {id_key} is missing"))
        })?;
        let token = tokens.get(id as usize).ok_or_else(|| {
            RebuildError::Malformed(format!("{id_key} = {id} is outside the vocabulary"))
        })?;
        Ok(Some((id, (*token).to_owned())))
    };
    let bos = special(
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.bos_token_id",
    )?;
    let eos = special(
        "tokenizer.ggml.add_eos_token",
        "tokenizer.ggml.eos_token_id",
    )?;
    let mut single = Vec::new();
    let mut specials = serde_json::Map::new();
    let mut piece = |s: &Option<(u64, String)>, out: &mut Vec<Json>| {
        if let Some((id, token)) = s {
            out.push(json!({"SpecialToken": {"id": token, "type_id": 0}}));
            specials.insert(
                token.clone(),
                json!({"id": token, "ids": [id], "tokens": [token]}),
            );
        }
    };
    piece(&bos, &mut single);
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    piece(&eos, &mut single);
    let file = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre,
        "post_processor": {"type": "TemplateProcessing", "single": single,
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": specials},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges}
    });
    file.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| RebuildError::Malformed(format!("the rebuilt tokenizer is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_is_gpt2s() {
        let a = byte_alphabet();
        assert_eq!(a[b'A' as usize], 'A');
        assert_eq!(a[b' ' as usize], 'Ġ');
        assert_eq!(a[b'\n' as usize], 'Ċ');
        let distinct: std::collections::BTreeSet<char> = a.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn unknown_pre_and_model_are_named() {
        let e = pre_tokenizer(Some("chatglm-bpe")).unwrap_err();
        assert!(matches!(e, RebuildError::Unsupported(ref m) if m.contains("\"chatglm-bpe\"")));
        let mut meta = BTreeMap::new();
        meta.insert("tokenizer.ggml.model".into(), Value::String("llama".into()));
        meta.insert(
            "tokenizer.ggml.tokens".into(),
            Value::Array(vec![Value::String("a".into())]),
        );
        let e = rebuild(&meta).unwrap_err();
        assert!(matches!(e, RebuildError::Unsupported(ref m) if m.contains("\"llama\"")));
        assert!(matches!(
            rebuild(&BTreeMap::new()),
            Err(RebuildError::Missing)
        ));
    }
}
