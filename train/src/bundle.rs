//! Task bundle format v1 (see `docs/TASK_FORMAT.md`).
//!
//! A bundle is a directory: `task.toml` (the manifest, with the sha256 of
//! every data file), `public/` (what the process running guest code may
//! read) and `heldout/` (what only the scorer reads). This module opens the
//! public part ([`PublicTask::open`]) and offers the verified, memory-mapped
//! file access that the scorer uses for the held-out part. Opening the
//! public part never touches a path under `heldout/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrainError};
use crate::lora::tokens::{
    HELDOUT_TEST_TOKENS, LmSection, MAX_SEQ_LEN, PUBLIC_POOL_TOKENS, TokenSet,
};

/// Name of the manifest file inside a bundle.
pub const MANIFEST: &str = "task.toml";
/// Public file: `features` `(pool, dim)` f32 and `weak_probs` `(pool, classes)` f32.
pub const PUBLIC_POOL: &str = "public/pool.safetensors";
/// Held-out file: `labels` `(pool)` u32, the pool's ground truth.
pub const HELDOUT_POOL_LABELS: &str = "heldout/pool_labels.safetensors";
/// Held-out file: `features` `(test, dim)` f32, `weak_probs` `(test, classes)`
/// f32 and `labels` `(test)` u32.
pub const HELDOUT_TEST: &str = "heldout/test.safetensors";
/// Every data file a v1 bundle must list.
pub const REQUIRED_FILES: [&str; 3] = [PUBLIC_POOL, HELDOUT_POOL_LABELS, HELDOUT_TEST];
/// Largest pool or test split accepted (keeps a hostile bundle from asking
/// for unbounded memory).
pub const MAX_SPLIT: u32 = 10_000_000;
/// Largest feature width accepted.
pub const MAX_FEATURE_DIM: u32 = 65_536;
/// Most classes accepted.
pub const MAX_CLASSES: u32 = 1_000;

/// The format version, pinned by type: only `1` deserializes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct FormatV1;

impl TryFrom<u32> for FormatV1 {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if v == 1 {
            Ok(FormatV1)
        } else {
            Err(format!(
                "unsupported format_version {v}; this build reads version 1"
            ))
        }
    }
}

impl From<FormatV1> for u32 {
    fn from(_: FormatV1) -> u32 {
        1
    }
}

/// Split sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Splits {
    /// Examples in the unlabeled training pool.
    pub pool: u32,
    /// Examples in the held-out test split.
    pub test: u32,
}

/// `task.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always 1.
    pub format_version: FormatV1,
    /// Task name.
    pub name: String,
    /// Number of classes.
    pub classes: u32,
    /// Width of the strong features.
    pub feature_dim: u32,
    /// Split sizes.
    pub splits: Splits,
    /// sha256 (lowercase hex) of every data file, by path relative to the
    /// bundle.
    pub files: BTreeMap<String, String>,
    /// Free-form provenance (how the bundle was generated); not interpreted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provenance: BTreeMap<String, String>,
    /// The strong language model, for bundles built from one (`lm-lora`
    /// students need it); absent in synthetic bundles. Written last, so a
    /// bundle without it has the bytes it had before this section existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lm: Option<LmSection>,
}

fn bundle_err(dir: &Path, problem: impl Into<String>) -> TrainError {
    TrainError::Bundle {
        dir: dir.to_path_buf(),
        problem: problem.into(),
    }
}

impl Manifest {
    /// Reads and validates `task.toml`; returns it with its sha256 (the task
    /// hash, which covers every file through their hashes).
    pub fn read(dir: &Path) -> Result<(Self, String)> {
        let path = dir.join(MANIFEST);
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bundle_err(dir, format!("missing {MANIFEST}")),
            _ => TrainError::io(&path, e),
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| bundle_err(dir, format!("{MANIFEST} is not UTF-8")))?;
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| bundle_err(dir, format!("{MANIFEST}: {}", e.message())))?;
        manifest.validate(dir)?;
        Ok((manifest, sha256_hex(&bytes)))
    }

    fn validate(&self, dir: &Path) -> Result<()> {
        let bad = |m: String| Err(bundle_err(dir, format!("{MANIFEST}: {m}")));
        if self.name.is_empty() || self.name.len() > 128 {
            return bad("name must be 1 to 128 bytes".into());
        }
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return bad(format!(
                "classes = {} is outside 2..={MAX_CLASSES}",
                self.classes
            ));
        }
        if !(1..=MAX_FEATURE_DIM).contains(&self.feature_dim) {
            return bad(format!(
                "feature_dim = {} is outside 1..={MAX_FEATURE_DIM}",
                self.feature_dim
            ));
        }
        for (split, n) in [("pool", self.splits.pool), ("test", self.splits.test)] {
            if !(1..=MAX_SPLIT).contains(&n) {
                return bad(format!("splits.{split} = {n} is outside 1..={MAX_SPLIT}"));
            }
        }
        if let Some(lm) = &self.lm
            && let Err(m) = lm.validate(self)
        {
            return bad(m);
        }
        for required in REQUIRED_FILES {
            if !self.files.contains_key(required) {
                return bad(format!("files has no entry for {required}"));
            }
        }
        for (rel, hash) in &self.files {
            let path = Path::new(rel);
            if !path.components().all(|c| matches!(c, Component::Normal(_))) {
                return bad(format!("file path {rel:?} must be relative, without `..`"));
            }
            if hash.len() != 64
                || !hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return bad(format!("sha256 of {rel} is not 64 lowercase hex digits"));
            }
        }
        Ok(())
    }

    /// Writes the manifest to `dir/task.toml` and returns its sha256.
    pub fn write(&self, dir: &Path) -> Result<String> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| bundle_err(dir, format!("cannot encode manifest: {e}")))?;
        let path = dir.join(MANIFEST);
        fs::write(&path, text.as_bytes()).map_err(|e| TrainError::io(&path, e))?;
        Ok(sha256_hex(text.as_bytes()))
    }
}

/// sha256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One data file of a bundle, memory-mapped after its hash was checked.
pub struct MappedFile {
    dir: PathBuf,
    rel: String,
    map: memmap2::Mmap,
}

impl MappedFile {
    /// Maps `dir/rel` and checks its sha256 against the manifest.
    pub fn open_verified(dir: &Path, manifest: &Manifest, rel: &str) -> Result<Self> {
        let expected = manifest
            .files
            .get(rel)
            .ok_or_else(|| bundle_err(dir, format!("{rel} is not listed in {MANIFEST}")))?;
        let path = dir.join(rel);
        let file = fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bundle_err(dir, format!("missing file {rel}")),
            _ => TrainError::io(&path, e),
        })?;
        // SAFETY: the map is read-only and private to this process. A file
        // changed underneath us after the hash check could change what we
        // read, but never memory safety of safe code reading a `&[u8]` that
        // stays mapped; bundles are immutable inputs by contract.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| TrainError::io(&path, e))?;
        let actual = sha256_hex(&map);
        if &actual != expected {
            return Err(bundle_err(
                dir,
                format!("sha256 mismatch for {rel}: {MANIFEST} says {expected}, file has {actual}"),
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            rel: rel.to_owned(),
            map,
        })
    }

    /// The file's bytes (their hash was checked).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    fn tensors(&self) -> Result<safetensors::SafeTensors<'_>> {
        safetensors::SafeTensors::deserialize(&self.map).map_err(|e| {
            bundle_err(
                &self.dir,
                format!("{} is not valid safetensors: {e}", self.rel),
            )
        })
    }

    fn view(&self, name: &str, dtype: safetensors::Dtype, shape: &[usize]) -> Result<Vec<u8>> {
        let st = self.tensors()?;
        let view = st
            .tensor(name)
            .map_err(|_| bundle_err(&self.dir, format!("{} has no tensor `{name}`", self.rel)))?;
        if view.dtype() != dtype {
            return Err(bundle_err(
                &self.dir,
                format!(
                    "{}:{name} has dtype {:?}, expected {dtype:?}",
                    self.rel,
                    view.dtype()
                ),
            ));
        }
        if view.shape() != shape {
            return Err(bundle_err(
                &self.dir,
                format!(
                    "{}:{name} has shape {:?}, expected {shape:?}",
                    self.rel,
                    view.shape()
                ),
            ));
        }
        Ok(view.data().to_vec())
    }

    /// Reads an f32 tensor of exactly `shape`, rejecting NaN and Inf.
    pub fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let bytes = self.view(name, safetensors::Dtype::F32, shape)?;
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bundle_err(
                &self.dir,
                format!(
                    "{}:{name} has a non-finite value at flat index {i}",
                    self.rel
                ),
            ));
        }
        Ok(values)
    }

    /// Reads a u32 tensor of exactly `shape`, each value below `bound`.
    pub fn u32s(&self, name: &str, shape: &[usize], bound: u32) -> Result<Vec<u32>> {
        let bytes = self.view(name, safetensors::Dtype::U32, shape)?;
        let values: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = values.iter().position(|&v| v >= bound) {
            return Err(bundle_err(
                &self.dir,
                format!(
                    "{}:{name}[{i}] = {} is out of range 0..{bound}",
                    self.rel, values[i]
                ),
            ));
        }
        Ok(values)
    }
}

/// Checks that `probs` holds rows of probabilities (each in [0, 1], each
/// row summing to 1 within 1e-3).
pub fn check_probability_rows(dir: &Path, what: &str, probs: &[f32], classes: usize) -> Result<()> {
    for (r, row) in probs.chunks_exact(classes).enumerate() {
        let sum: f32 = row.iter().sum();
        if row.iter().any(|p| !(0.0..=1.0).contains(p)) || (sum - 1.0).abs() > 1e-3 {
            return Err(bundle_err(
                dir,
                format!("{what} row {r} is not a probability distribution (sums to {sum})"),
            ));
        }
    }
    Ok(())
}

/// The public view of a task: everything the process that runs guest code
/// may see. Built without opening anything under `heldout/`.
#[derive(Debug)]
pub struct PublicTask {
    /// The bundle directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// sha256 of `task.toml`.
    pub task_hash: String,
    /// Strong features of the pool, `(pool, dim)`, on the compute device.
    pub features: Tensor,
    /// The weak teacher's probabilities on the pool, row-major.
    pub weak_probs: Vec<f32>,
    /// The pool, tokenized, when the bundle has an `[lm]` section.
    pub pool_tokens: Option<std::sync::Arc<TokenSet>>,
    /// The strong model (hashes verified), loaded once when the bundle has
    /// an `[lm]` section and shared by every run and seed of this task.
    pub backbone: Option<std::sync::Arc<crate::lora::Backbone>>,
}

impl PublicTask {
    /// Opens and verifies the public part of the bundle at `dir`.
    pub fn open(dir: &Path, device: &Device) -> Result<Self> {
        let (manifest, task_hash) = Manifest::read(dir)?;
        let pool = manifest.splits.pool as usize;
        let dim = manifest.feature_dim as usize;
        let classes = manifest.classes as usize;
        let file = MappedFile::open_verified(dir, &manifest, PUBLIC_POOL)?;
        let features = file.f32s("features", &[pool, dim])?;
        let weak_probs = file.f32s("weak_probs", &[pool, classes])?;
        check_probability_rows(dir, "public weak_probs", &weak_probs, classes)?;
        let features = Tensor::from_vec(features, (pool, dim), device)?;
        let backbone = match &manifest.lm {
            None => None,
            Some(lm) => Some(std::sync::Arc::new(lm.load_backbone(None, device)?)),
        };
        let pool_tokens = match (&manifest.lm, &backbone) {
            (Some(lm), Some(bb)) => Some(std::sync::Arc::new(TokenSet::open(
                dir,
                &manifest,
                PUBLIC_POOL_TOKENS,
                pool,
                lm.max_seq_len as usize,
                bb.config().vocab_size as u32,
            )?)),
            _ => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            task_hash,
            features,
            weak_probs,
            pool_tokens,
            backbone,
        })
    }

    /// A copy of this task whose weak teacher says `weak_probs` instead
    /// (row-major, one probability row per pool example), checked like the
    /// bundle's own: the exact length, finite values, each row a
    /// distribution. Everything else stays, the task's name and hash
    /// included: a control run must look to the guest exactly like the real
    /// one but for the labels. The features are shared, not copied.
    pub fn with_weak_probs(&self, weak_probs: Vec<f32>) -> Result<Self> {
        let expected = self.pool_size() * self.classes();
        if weak_probs.len() != expected {
            return Err(TrainError::invalid(
                "weak_probs",
                format!(
                    "expected {expected} values ({} rows of {}), got {}",
                    self.pool_size(),
                    self.classes(),
                    weak_probs.len()
                ),
            ));
        }
        if let Some(i) = weak_probs.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::invalid(
                "weak_probs",
                format!("non-finite value at flat index {i}"),
            ));
        }
        check_probability_rows(
            &self.dir,
            "replacement weak_probs",
            &weak_probs,
            self.classes(),
        )?;
        Ok(Self {
            dir: self.dir.clone(),
            manifest: self.manifest.clone(),
            task_hash: self.task_hash.clone(),
            features: self.features.clone(),
            weak_probs,
            pool_tokens: self.pool_tokens.clone(),
            backbone: self.backbone.clone(),
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.manifest.classes as usize
    }

    /// Pool size.
    pub fn pool_size(&self) -> usize {
        self.manifest.splits.pool as usize
    }

    /// Feature width.
    pub fn feature_dim(&self) -> usize {
        self.manifest.feature_dim as usize
    }

    /// Checks pool indices and returns them as a device tensor.
    pub fn index_tensor(&self, indices: &[u32]) -> Result<Tensor> {
        let n = self.pool_size() as u32;
        if let Some(i) = indices.iter().position(|&ix| ix >= n) {
            return Err(TrainError::invalid(
                "indices",
                format!(
                    "index {} at position {i} is outside the pool (size {n})",
                    indices[i]
                ),
            ));
        }
        Ok(Tensor::from_slice(
            indices,
            indices.len(),
            self.features.device(),
        )?)
    }

    /// Strong features of the given pool indices, `(n, dim)`.
    pub fn rows(&self, indices: &[u32]) -> Result<Tensor> {
        // `contiguous` is free for features opened from a bundle.
        Ok(self
            .features
            .contiguous()?
            .index_select(&self.index_tensor(indices)?, 0)?)
    }

    /// Weak probabilities of the given pool indices, row-major.
    pub fn weak_rows(&self, indices: &[u32]) -> Result<Vec<f32>> {
        self.index_tensor(indices)?;
        let k = self.classes();
        let mut out = Vec::with_capacity(indices.len() * k);
        for &i in indices {
            out.extend_from_slice(&self.weak_probs[i as usize * k..(i as usize + 1) * k]);
        }
        Ok(out)
    }
}

/// The `[lm]` section's check against its manifest, here with the rest of
/// the bundle's checks.
impl LmSection {
    /// Checks the section against the manifest: one label token per
    /// class, a sequence length in range, both token files listed.
    pub fn validate(&self, manifest: &Manifest) -> std::result::Result<(), String> {
        if self.label_token_ids.len() != manifest.classes as usize
            || self.label_tokens.len() != manifest.classes as usize
        {
            return Err(format!(
                "[lm] has {} label token ids and {} label texts for {} classes",
                self.label_token_ids.len(),
                self.label_tokens.len(),
                manifest.classes
            ));
        }
        if !(1..=MAX_SEQ_LEN).contains(&self.max_seq_len) {
            return Err(format!(
                "[lm] max_seq_len = {} is outside 1..={MAX_SEQ_LEN}",
                self.max_seq_len
            ));
        }
        if self.model_files.is_empty() {
            return Err("[lm] model_files is empty".to_owned());
        }
        for f in [PUBLIC_POOL_TOKENS, HELDOUT_TEST_TOKENS] {
            if !manifest.files.contains_key(f) {
                return Err(format!("[lm] needs {f} in [files]"));
            }
        }
        Ok(())
    }
}

/// Reading a tokenized split out of a bundle, here with the rest of the
/// bundle reader.
impl TokenSet {
    /// Reads `rel` (verified against the manifest), expecting `rows` rows
    /// of `max_len` tokens below `vocab`.
    pub fn open(
        dir: &Path,
        manifest: &Manifest,
        rel: &str,
        rows: usize,
        max_len: usize,
        vocab: u32,
    ) -> Result<Self> {
        let file = MappedFile::open_verified(dir, manifest, rel)?;
        let ids = file.u32s("ids", &[rows, max_len], vocab)?;
        let lens = file.u32s("lens", &[rows], max_len as u32 + 1)?;
        if lens.contains(&0) {
            return Err(TrainError::Bundle {
                dir: dir.to_path_buf(),
                problem: format!("{rel}: a row has length 0"),
            });
        }
        Ok(Self::from_parts(ids, lens, max_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthConfig, generate};

    fn tiny_task() -> (tempfile::TempDir, PublicTask) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SynthConfig {
            pool: 50,
            test: 20,
            teacher_train: 40,
            ..SynthConfig::default_task(5)
        };
        generate(&cfg, &dir.path().join("t")).unwrap();
        let task = PublicTask::open(&dir.path().join("t"), &Device::Cpu).unwrap();
        (dir, task)
    }

    #[test]
    fn replaced_weak_probs_keep_everything_else() {
        let (_d, task) = tiny_task();
        let k = task.classes();
        let uniform = vec![1.0 / k as f32; task.pool_size() * k];
        let control = task.with_weak_probs(uniform.clone()).unwrap();
        assert_eq!(control.weak_probs, uniform);
        assert_eq!(control.task_hash, task.task_hash);
        assert_eq!(control.manifest, task.manifest);
        assert_eq!(
            control.rows(&[3]).unwrap().to_vec2::<f32>().unwrap(),
            task.rows(&[3]).unwrap().to_vec2::<f32>().unwrap()
        );
    }

    #[test]
    fn replaced_weak_probs_are_validated() {
        let (_d, task) = tiny_task();
        let n = task.pool_size() * task.classes();
        let err = |v: Vec<f32>| task.with_weak_probs(v).unwrap_err().to_string();
        assert!(err(vec![0.25; n - 1]).contains("expected"));
        let mut nan = vec![0.25; n];
        nan[7] = f32::NAN;
        assert!(err(nan).contains("non-finite value at flat index 7"));
        assert!(err(vec![0.5; n]).contains("not a probability distribution"));
    }
}
