//! `w2s task check`: full validation of a bundle.

use std::path::Path;

use candle_core::Device;
use serde::Serialize;

use crate::error::ScorerError;
use crate::heldout::Heldout;

/// A summary of a bundle that passed every check.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    /// Task name.
    pub name: String,
    /// sha256 of `task.toml`.
    pub task_hash: String,
    /// Classes.
    pub classes: u32,
    /// Feature width.
    pub feature_dim: u32,
    /// Pool size.
    pub pool: u32,
    /// Test size.
    pub test: u32,
    /// The weak teacher's test accuracy.
    pub weak_acc: f64,
    /// Named subsets of the test split (0 when it has none).
    pub test_subsets: usize,
    /// The strong model `lm-lora` students fine-tune, when the bundle has
    /// an `[lm]` section (its files' hashes and both token files checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lm_model: Option<String>,
}

/// Checks a bundle: manifest schema, every file's sha256, tensor names,
/// dtypes and shapes, label ranges, NaN and Inf, probability rows. The
/// error names the first problem found. Test subsets, when
/// listed, are checked too (one valid index per test example), and so
/// is the `[lm]` part: the strong model's files against their hashes and
/// the token files (which loads the model).
pub fn check_bundle(dir: &Path) -> Result<BundleSummary, ScorerError> {
    let h = Heldout::open(dir, &Device::Cpu)?;
    let lm_model = match &h.manifest.lm {
        Some(lm) => {
            crate::lora::LoraHeldout::open(dir, &h, &Device::Cpu)?;
            Some(lm.model.clone())
        }
        None => None,
    };
    Ok(BundleSummary {
        name: h.manifest.name.clone(),
        task_hash: h.task_hash.clone(),
        classes: h.manifest.classes,
        feature_dim: h.manifest.feature_dim,
        pool: h.manifest.splits.pool,
        test: h.manifest.splits.test,
        weak_acc: w2s_train::recipe::accuracy(&h.test_weak_probs, h.classes(), &h.test_labels),
        test_subsets: h.test_subsets.as_ref().map_or(0, |s| s.names.len()),
        lm_model,
    })
}
