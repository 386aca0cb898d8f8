//! Hugging Face tensor names to llama.cpp's GGUF names, the ones the
//! decoder loads (`transformers`' `gguf_conversion_mapping.py` maps the
//! same pairs the other way).

/// What a Hugging Face name is in a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GgufName {
    /// The GGUF tensor name.
    pub(crate) name: String,
    /// Heads of a q (or k) weight or bias that llama.cpp's converter
    /// permuted for its interleaved RoPE (Llama and Mistral only), to be
    /// undone on load; `None` for every other tensor.
    pub(crate) permuted_heads: Option<Permuted>,
}

/// Which head count a permuted tensor was permuted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permuted {
    /// The query heads (`attn_q`).
    Query,
    /// The key/value heads (`attn_k`).
    Key,
}

/// The GGUF name of `hf` (with or without the `model.` prefix), or `None`
/// for a name no GGUF tensor stands for. `permutes` says whether the
/// family's converter permuted q and k (Llama, Mistral).
pub(crate) fn gguf_name(hf: &str, permutes: bool) -> Option<GgufName> {
    let plain = |name: String| GgufName {
        name,
        permuted_heads: None,
    };
    if hf == "lm_head.weight" {
        return Some(plain("output.weight".into()));
    }
    let hf = hf.strip_prefix("model.").unwrap_or(hf);
    match hf {
        "embed_tokens.weight" => return Some(plain("token_embd.weight".into())),
        "norm.weight" => return Some(plain("output_norm.weight".into())),
        _ => {}
    }
    let rest = hf.strip_prefix("layers.")?;
    let (index, inner) = rest.split_once('.')?;
    let index: usize = index.parse().ok()?;
    let (module, kind) = inner.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let (short, permuted) = match module {
        "self_attn.q_proj" => ("attn_q", Some(Permuted::Query)),
        "self_attn.k_proj" => ("attn_k", Some(Permuted::Key)),
        "self_attn.v_proj" => ("attn_v", None),
        "self_attn.o_proj" => ("attn_output", None),
        "self_attn.q_norm" => ("attn_q_norm", None),
        "self_attn.k_norm" => ("attn_k_norm", None),
        "mlp.gate_proj" => ("ffn_gate", None),
        "mlp.up_proj" => ("ffn_up", None),
        "mlp.down_proj" => ("ffn_down", None),
        "input_layernorm" => ("attn_norm", None),
        "post_attention_layernorm" => ("ffn_norm", None),
        _ => return None,
    };
    Some(GgufName {
        name: format!("blk.{index}.{short}.{kind}"),
        permuted_heads: permuted.filter(|_| permutes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loaded_name_maps() {
        let n = |hf: &str| gguf_name(hf, true).map(|g| g.name);
        assert_eq!(
            n("model.embed_tokens.weight").as_deref(),
            Some("token_embd.weight")
        );
        assert_eq!(n("lm_head.weight").as_deref(), Some("output.weight"));
        assert_eq!(
            n("model.norm.weight").as_deref(),
            Some("output_norm.weight")
        );
        assert_eq!(
            n("model.layers.12.self_attn.o_proj.weight").as_deref(),
            Some("blk.12.attn_output.weight")
        );
        assert_eq!(
            n("model.layers.0.post_attention_layernorm.weight").as_deref(),
            Some("blk.0.ffn_norm.weight")
        );
        assert_eq!(
            n("model.layers.3.mlp.down_proj.weight").as_deref(),
            Some("blk.3.ffn_down.weight")
        );
        assert_eq!(n("model.layers.x.mlp.down_proj.weight"), None);
        assert_eq!(n("model.rotary_emb.inv_freq"), None);
    }

    #[test]
    fn only_llama_q_and_k_are_permuted() {
        let q = gguf_name("model.layers.1.self_attn.q_proj.bias", true).unwrap();
        assert_eq!(q.name, "blk.1.attn_q.bias");
        assert_eq!(q.permuted_heads, Some(Permuted::Query));
        let k = gguf_name("model.layers.1.self_attn.k_proj.weight", true).unwrap();
        assert_eq!(k.permuted_heads, Some(Permuted::Key));
        let v = gguf_name("model.layers.1.self_attn.v_proj.weight", true).unwrap();
        assert_eq!(v.permuted_heads, None);
        let qwen = gguf_name("model.layers.1.self_attn.q_proj.weight", false).unwrap();
        assert_eq!(qwen.permuted_heads, None);
    }
}
