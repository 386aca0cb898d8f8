//! Writing the generated tensors as safetensors files.

use std::fs;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::bundle;
use crate::error::{Result, TrainError};

/// Writes `tensors` (name, dtype, shape, little-endian bytes) to `dir/rel`
/// and returns the file's sha256.
pub(super) fn write_safetensors(
    dir: &Path,
    rel: &str,
    tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>,
) -> Result<String> {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            Ok((
                *name,
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map_err(|e| TrainError::invalid("tensor", e.to_string()))?,
            ))
        })
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| TrainError::invalid("tensor", e.to_string()))?;
    let path = dir.join(rel);
    fs::write(&path, &bytes).map_err(|e| TrainError::io(&path, e))?;
    Ok(bundle::sha256_hex(&bytes))
}

pub(super) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
