//! The activation cache: pooled features of one model on one dataset,
//! reused across builds that differ only after extraction (another weak
//! probe setting, another task name, another feature scaling).
//!
//! An entry is keyed by everything that shapes the features: the sha256
//! of every model file (weights, config, tokenizer), the dataset's sha256,
//! the hash of the exact texts in order (which covers the template and
//! the split), the layer, the pooling, the token limit, the batch size
//! (batches shape the matrix products, so bits), the device and
//! [`CACHE_VERSION`]. Two files per entry, `KEY.safetensors` (the
//! features) and `KEY.json` (the key's fields, the shape and the features
//! file's sha256). An entry is used only when its key, its fields, its
//! shape and the features file's hash all match; anything else is
//! recomputed and the build says why. Entries are written to a temporary
//! name and renamed, so a killed build leaves no half entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};

/// Bumped whenever extraction code changes what it computes.
///
/// v2: the CPU runs the frozen forward (`w2s_lm::FrozenDecoder`, the
/// projections through `w2s-gemm`), whose bits differ from candle's. Its
/// bits depend on no thread count and no batch composition, so the key's
/// `batch_size` no longer shapes CPU features (it stays in the key: the
/// candle forward on other devices still pads to the batch).
pub const CACHE_VERSION: &str = "w2s-activations/v2";

/// How a model's features were obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CacheStatus {
    /// A verified entry was used: the model did not run.
    Hit,
    /// No entry; computed and stored.
    Miss,
    /// An entry existed but did not verify; recomputed and replaced.
    Recomputed {
        /// Why the entry was rejected.
        reason: String,
    },
    /// No cache directory was given; computed.
    Disabled,
}

/// The fields that identify one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// Field name -> value.
    pub fields: BTreeMap<String, String>,
}

impl CacheKey {
    /// The entry's name: sha256 of the version and the fields.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(CACHE_VERSION.as_bytes());
        for (k, v) in &self.fields {
            h.update(format!("\n{k}={v}").as_bytes());
        }
        hex::encode(h.finalize())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryMeta {
    version: String,
    id: String,
    fields: BTreeMap<String, String>,
    rows: usize,
    dim: usize,
    features_sha256: String,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct ActivationCache {
    dir: PathBuf,
}

impl ActivationCache {
    /// The cache at `dir` (created on first write).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn paths(&self, key: &CacheKey) -> (PathBuf, PathBuf) {
        let id = key.id();
        (
            self.dir.join(format!("{id}.json")),
            self.dir.join(format!("{id}.safetensors")),
        )
    }

    /// The entry for `key`, if one exists and verifies: `Ok(None)` when
    /// there is none, `Err(reason)` when one exists but is not trusted.
    pub fn get(&self, key: &CacheKey, rows: usize, dim: usize) -> Result<Option<Vec<f32>>, String> {
        let (meta_path, data_path) = self.paths(key);
        let meta = match std::fs::read(&meta_path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let meta: EntryMeta =
            serde_json::from_slice(&meta).map_err(|e| format!("malformed entry: {e}"))?;
        if meta.version != CACHE_VERSION || meta.id != key.id() || meta.fields != key.fields {
            return Err("entry's key does not match this model, dataset and extraction".into());
        }
        if (meta.rows, meta.dim) != (rows, dim) {
            return Err(format!(
                "entry holds {}x{} features, expected {rows}x{dim}",
                meta.rows, meta.dim
            ));
        }
        let data =
            std::fs::read(&data_path).map_err(|e| format!("features file unreadable: {e}"))?;
        let actual = hex::encode(Sha256::digest(&data));
        if actual != meta.features_sha256 {
            return Err(format!(
                "features file's sha256 {actual} is not the recorded {} (corrupted or edited)",
                meta.features_sha256
            ));
        }
        let st = safetensors::SafeTensors::deserialize(&data)
            .map_err(|e| format!("not safetensors: {e}"))?;
        let view = st
            .tensor("features")
            .map_err(|_| "no `features` tensor".to_owned())?;
        if view.dtype() != Dtype::F32 || view.shape() != [rows, dim] {
            return Err(format!(
                "features are {:?} {:?}, expected F32 [{rows}, {dim}]",
                view.dtype(),
                view.shape()
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err("features hold a non-finite value".into());
        }
        Ok(Some(values))
    }

    /// Stores `features` `(rows, dim)` under `key`.
    pub fn put(&self, key: &CacheKey, features: &[f32], rows: usize, dim: usize) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| BuildError::io(&self.dir, e))?;
        let bytes: Vec<u8> = features.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![rows, dim], &bytes)
            .map_err(|e| BuildError::invalid("features", e.to_string()))?;
        let data = safetensors::serialize([("features", view)], None)
            .map_err(|e| BuildError::invalid("features", e.to_string()))?;
        let meta = EntryMeta {
            version: CACHE_VERSION.to_owned(),
            id: key.id(),
            fields: key.fields.clone(),
            rows,
            dim,
            features_sha256: hex::encode(Sha256::digest(&data)),
        };
        let (meta_path, data_path) = self.paths(key);
        // Features first, then the metadata that vouches for them.
        write_atomic(&data_path, &data)?;
        write_atomic(
            &meta_path,
            &serde_json::to_vec_pretty(&meta).expect("meta serializes"),
        )
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| BuildError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| BuildError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(layer: &str) -> CacheKey {
        CacheKey {
            fields: [("layer".to_owned(), layer.to_owned())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn an_entry_round_trips_and_a_tampered_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let cache = ActivationCache::new(d.path());
        assert_eq!(cache.get(&key("1"), 2, 3), Ok(None));
        let f = [1.0, 2.0, 3.0, 4.0, 5.0, 6.5];
        cache.put(&key("1"), &f, 2, 3).unwrap();
        assert_eq!(cache.get(&key("1"), 2, 3), Ok(Some(f.to_vec())));
        assert_eq!(cache.get(&key("2"), 2, 3), Ok(None));
        assert!(
            cache
                .get(&key("1"), 3, 2)
                .unwrap_err()
                .contains("expected 3x2")
        );
        let data = d.path().join(format!("{}.safetensors", key("1").id()));
        let mut bytes = std::fs::read(&data).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&data, bytes).unwrap();
        assert!(
            cache
                .get(&key("1"), 2, 3)
                .unwrap_err()
                .contains("corrupted or edited")
        );
    }
}
