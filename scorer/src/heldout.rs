//! The held-out part of a bundle, verified.

use std::path::Path;

use candle_core::{Device, Tensor};
use w2s_train::bundle::{self, Manifest, MappedFile};
use w2s_train::test_subsets::{HELDOUT_TEST_SUBSETS, TestSubsets};

use crate::error::ScorerError;

/// Reads and checks the bundle's named test subsets, if its manifest lists
/// them (they are held out: only this crate reads them).
pub fn read_test_subsets(
    dir: &Path,
    manifest: &Manifest,
) -> Result<Option<TestSubsets>, ScorerError> {
    if !manifest.files.contains_key(HELDOUT_TEST_SUBSETS) {
        return Ok(None);
    }
    let file = MappedFile::open_verified(dir, manifest, HELDOUT_TEST_SUBSETS)?;
    let subsets: TestSubsets =
        serde_json::from_slice(file.bytes()).map_err(|e| w2s_train::TrainError::Bundle {
            dir: dir.to_path_buf(),
            problem: format!("{HELDOUT_TEST_SUBSETS} is not valid: {e}"),
        })?;
    subsets.validate(dir, manifest.splits.test as usize)?;
    Ok(Some(subsets))
}

/// Everything the scorer reads: the pool (features and ground truth) and
/// the test split.
pub struct Heldout {
    /// The manifest.
    pub manifest: Manifest,
    /// sha256 of `task.toml`.
    pub task_hash: String,
    /// Pool features `(pool, dim)`.
    pub pool_features: Tensor,
    /// Pool ground truth.
    pub pool_labels: Vec<u32>,
    /// Test features `(test, dim)`.
    pub test_features: Tensor,
    /// The weak teacher's test probabilities, row-major.
    pub test_weak_probs: Vec<f32>,
    /// Test ground truth.
    pub test_labels: Vec<u32>,
    /// Named subsets of the test split, when the bundle has them.
    pub test_subsets: Option<TestSubsets>,
}

impl Heldout {
    /// Opens and verifies every file of the bundle at `dir`.
    pub fn open(dir: &Path, device: &Device) -> Result<Self, ScorerError> {
        let (manifest, task_hash) = Manifest::read(dir)?;
        let (pool, test) = (manifest.splits.pool as usize, manifest.splits.test as usize);
        let (dim, k) = (manifest.feature_dim as usize, manifest.classes as usize);
        let public = MappedFile::open_verified(dir, &manifest, bundle::PUBLIC_POOL)?;
        let pool_features = public.f32s("features", &[pool, dim])?;
        let pool_weak = public.f32s("weak_probs", &[pool, k])?;
        bundle::check_probability_rows(dir, "public weak_probs", &pool_weak, k)?;
        let truth = MappedFile::open_verified(dir, &manifest, bundle::HELDOUT_POOL_LABELS)?;
        let pool_labels = truth.u32s("labels", &[pool], manifest.classes)?;
        let test_file = MappedFile::open_verified(dir, &manifest, bundle::HELDOUT_TEST)?;
        let test_features = test_file.f32s("features", &[test, dim])?;
        let test_weak_probs = test_file.f32s("weak_probs", &[test, k])?;
        bundle::check_probability_rows(dir, "test weak_probs", &test_weak_probs, k)?;
        let test_labels = test_file.u32s("labels", &[test], manifest.classes)?;
        let test_subsets = read_test_subsets(dir, &manifest)?;
        Ok(Self {
            pool_features: Tensor::from_vec(pool_features, (pool, dim), device)
                .map_err(w2s_train::TrainError::from)?,
            test_features: Tensor::from_vec(test_features, (test, dim), device)
                .map_err(w2s_train::TrainError::from)?,
            manifest,
            task_hash,
            pool_labels,
            test_weak_probs,
            test_labels,
            test_subsets,
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.manifest.classes as usize
    }
}
