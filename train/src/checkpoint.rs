//! Student checkpoints: safetensors with the architecture in the metadata.
//!
//! The run that trains a student writes one; the scorer, in another
//! process, reads it back and computes test predictions itself. Tensors are
//! named `layer{i}.weight` `(in, out)` and `layer{i}.bias` `(out)`; the
//! metadata holds `format = "w2s-student/1"`, `arch` (JSON), `in_dim` and
//! `classes`.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::arch::Arch;
use crate::error::{Result, TrainError};
use crate::head::Head;

/// The metadata `format` value of a v1 checkpoint.
pub const CHECKPOINT_FORMAT: &str = "w2s-student/1";

fn names(layers: usize) -> Vec<String> {
    (0..layers)
        .flat_map(|i| [format!("layer{i}.weight"), format!("layer{i}.bias")])
        .collect()
}

/// Serializes a head.
pub fn to_bytes(head: &Head) -> Result<Vec<u8>> {
    let params = head.params();
    let names = names(params.len() / 2);
    let mut metadata = HashMap::new();
    metadata.insert("format".to_owned(), CHECKPOINT_FORMAT.to_owned());
    metadata.insert(
        "arch".to_owned(),
        serde_json::to_string(&head.arch()).expect("Arch serializes"),
    );
    metadata.insert("in_dim".to_owned(), head.in_dim().to_string());
    metadata.insert("classes".to_owned(), head.classes().to_string());
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
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not safetensors: {e}")))?;
    let meta = meta
        .metadata()
        .clone()
        .ok_or_else(|| bad("no metadata".into()))?;
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| bad(format!("metadata has no `{k}`")))
    };
    if get("format")? != CHECKPOINT_FORMAT {
        return Err(bad(format!("format is not {CHECKPOINT_FORMAT}")));
    }
    let arch: Arch =
        serde_json::from_str(&get("arch")?).map_err(|e| bad(format!("bad arch: {e}")))?;
    let in_dim: usize = get("in_dim")?
        .parse()
        .map_err(|_| bad("bad in_dim".into()))?;
    let classes: usize = get("classes")?
        .parse()
        .map_err(|_| bad("bad classes".into()))?;
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
    fn garbage_is_rejected() {
        let err = from_bytes(b"not a checkpoint", &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("not safetensors"), "{err}");
    }
}
