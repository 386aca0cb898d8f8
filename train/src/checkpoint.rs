//! Student checkpoints: safetensors with the architecture in the metadata.
//!
//! The run that trains a student writes one; the scorer, in another
//! process, reads it back and computes test predictions itself. Tensors are
//! named `layer{i}.weight` `(in, out)` and `layer{i}.bias` `(out)`; the
//! metadata has one entry, `w2s`, whose value is the JSON object
//! `{"format": "w2s-student/1", "arch": ..., "in_dim": ..., "classes": ...}`.
//! The same head always serializes to the same bytes.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::arch::Arch;
use crate::error::{Result, TrainError};
use crate::head::Head;
use crate::lora::{Backbone, LoraSpec, LoraStudent};

/// The metadata `format` value of a v1 checkpoint.
pub const CHECKPOINT_FORMAT: &str = "w2s-student/1";
/// The one metadata key; its value is the JSON of [`Meta`].
const META_KEY: &str = "w2s";

/// What a checkpoint says about its head, in a fixed field order.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: String,
    arch: Arch,
    in_dim: usize,
    classes: usize,
}

fn names(layers: usize) -> Vec<String> {
    (0..layers)
        .flat_map(|i| [format!("layer{i}.weight"), format!("layer{i}.bias")])
        .collect()
}

/// Serializes a head.
pub fn to_bytes(head: &Head) -> Result<Vec<u8>> {
    let params = head.params();
    let names = names(params.len() / 2);
    let meta = Meta {
        format: CHECKPOINT_FORMAT.to_owned(),
        arch: head.arch(),
        in_dim: head.in_dim(),
        classes: head.classes(),
    };
    // One metadata entry: safetensors writes its metadata map in the map's
    // iteration order, which for several keys would differ between runs.
    let metadata = HashMap::from([(
        META_KEY.to_owned(),
        serde_json::to_string(&meta).expect("checkpoint metadata serializes"),
    )]);
    let cpu: Vec<Tensor> = params
        .iter()
        .map(|p| p.to_device(&Device::Cpu))
        .collect::<candle_core::Result<_>>()?;
    let data: Vec<(&str, &Tensor)> = names.iter().map(String::as_str).zip(cpu.iter()).collect();
    safetensors::serialize(data, Some(metadata))
        .map_err(|e| TrainError::Checkpoint(format!("cannot serialize: {e}")))
}

/// Reads a head back, checking format, architecture and every shape.
pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Head> {
    let bad = |m: String| TrainError::Checkpoint(m);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not safetensors: {e}")))?;
    let text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| bad(format!("metadata has no `{META_KEY}` entry")))?;
    let meta: Meta = serde_json::from_str(text).map_err(|e| bad(format!("bad metadata: {e}")))?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(bad(format!("format is not {CHECKPOINT_FORMAT}")));
    }
    let Meta {
        arch,
        in_dim,
        classes,
        ..
    } = meta;
    let tensors = candle_core::safetensors::load_buffer(bytes, device)?;
    let layers = arch.layer_shapes(in_dim, classes).len();
    let params = names(layers)
        .iter()
        .map(|n| {
            tensors
                .get(n)
                .cloned()
                .ok_or_else(|| bad(format!("missing tensor {n}")))
        })
        .collect::<Result<Vec<_>>>()?;
    if tensors.len() != params.len() {
        return Err(bad(format!(
            "expected {} tensors, found {}",
            params.len(),
            tensors.len()
        )));
    }
    Head::from_params(arch, in_dim, classes, params).map_err(|e| bad(e.to_string()))
}

/// The metadata `format` value of an `lm-lora` checkpoint.
pub const LORA_CHECKPOINT_FORMAT: &str = "w2s-lm-lora/1";

/// What an `lm-lora` checkpoint says about its student: the spec, and the
/// model fingerprint (of `[lm] model_files`) it was trained on.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoraMeta {
    format: String,
    spec: LoraSpec,
    model_fingerprint: String,
}

/// Whether `bytes` are an `lm-lora` checkpoint (rather than a head's).
pub fn is_lora(bytes: &[u8]) -> bool {
    read_meta_text(bytes).is_ok_and(|t| {
        serde_json::from_str::<serde_json::Value>(&t)
            .is_ok_and(|v| v["format"] == LORA_CHECKPOINT_FORMAT)
    })
}

fn read_meta_text(bytes: &[u8]) -> Result<String> {
    let bad = |m: String| TrainError::Checkpoint(m);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not safetensors: {e}")))?;
    header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .cloned()
        .ok_or_else(|| bad(format!("metadata has no `{META_KEY}` entry")))
}

/// Serializes an `lm-lora` student's adapters (and head), tensors named
/// `p{i}` in parameter order, f32; `model_fingerprint` names the backbone.
pub fn lora_to_bytes(student: &LoraStudent, model_fingerprint: &str) -> Result<Vec<u8>> {
    let meta = LoraMeta {
        format: LORA_CHECKPOINT_FORMAT.to_owned(),
        spec: student.spec().clone(),
        model_fingerprint: model_fingerprint.to_owned(),
    };
    let metadata = HashMap::from([(
        META_KEY.to_owned(),
        serde_json::to_string(&meta).expect("checkpoint metadata serializes"),
    )]);
    let names: Vec<String> = (0..student.params().len())
        .map(|i| format!("p{i}"))
        .collect();
    let cpu: Vec<Tensor> = student
        .params()
        .iter()
        .map(|p| p.to_device(&Device::Cpu)?.to_dtype(candle_core::DType::F32))
        .collect::<candle_core::Result<_>>()?;
    let data: Vec<(&str, &Tensor)> = names.iter().map(String::as_str).zip(cpu.iter()).collect();
    safetensors::serialize(data, Some(metadata))
        .map_err(|e| TrainError::Checkpoint(format!("cannot serialize: {e}")))
}

/// Reads an `lm-lora` student back onto `backbone`, checking the format,
/// the model fingerprint and every shape.
pub fn lora_from_bytes(
    bytes: &[u8],
    backbone: Arc<Backbone>,
    model_fingerprint: &str,
) -> Result<LoraStudent> {
    let bad = |m: String| TrainError::Checkpoint(m);
    let meta: LoraMeta = serde_json::from_str(&read_meta_text(bytes)?)
        .map_err(|e| bad(format!("bad metadata: {e}")))?;
    if meta.format != LORA_CHECKPOINT_FORMAT {
        return Err(bad(format!("format is not {LORA_CHECKPOINT_FORMAT}")));
    }
    if meta.model_fingerprint != model_fingerprint {
        return Err(bad(
            "trained on another strong model (model fingerprint differs)".to_owned(),
        ));
    }
    let tensors = candle_core::safetensors::load_buffer(bytes, backbone.device())?;
    let n = meta
        .spec
        .param_shapes(backbone.config(), backbone.classes())
        .len();
    if tensors.len() != n {
        return Err(bad(format!(
            "expected {n} tensors, found {}",
            tensors.len()
        )));
    }
    let params = (0..n)
        .map(|i| {
            tensors
                .get(&format!("p{i}"))
                .cloned()
                .ok_or_else(|| bad(format!("missing tensor p{i}")))
        })
        .collect::<Result<Vec<_>>>()?;
    LoraStudent::from_params(backbone, meta.spec, params).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact() {
        let dev = Device::Cpu;
        let head = Head::init(Arch::Mlp { hidden: 7 }, 5, 3, 9, &dev).unwrap();
        let bytes = to_bytes(&head).unwrap();
        let back = from_bytes(&bytes, &dev).unwrap();
        assert_eq!(back.arch(), head.arch());
        for (a, b) in head.params().iter().zip(back.params()) {
            assert_eq!(
                a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn the_same_head_gives_the_same_bytes() {
        // Regression: metadata written from a map of several keys came out
        // in a different order each run, so checkpoints of identical
        // students hashed differently.
        let head = Head::init(Arch::Mlp { hidden: 3 }, 4, 2, 1, &Device::Cpu).unwrap();
        let first = to_bytes(&head).unwrap();
        for _ in 0..20 {
            assert_eq!(to_bytes(&head.clone()).unwrap(), first);
        }
    }

    #[test]
    fn garbage_is_rejected() {
        let err = from_bytes(b"not a checkpoint", &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("not safetensors"), "{err}");
    }
}
