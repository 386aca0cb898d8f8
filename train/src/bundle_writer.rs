//! Writing a task bundle: the three data files, the optional test subsets,
//! and the manifest that lists their hashes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::bundle::{self, FormatV1, Manifest, Splits};
use crate::error::{Result, TrainError};
use crate::lora::tokens::{HELDOUT_TEST_TOKENS, LmSection, PUBLIC_POOL_TOKENS, TokenSet};
use crate::test_subsets::{HELDOUT_TEST_SUBSETS, TestSubsets};

/// Everything a bundle holds, row-major.
#[derive(Debug, Clone, Copy)]
pub struct BundleContents<'a> {
    /// Task name.
    pub name: &'a str,
    /// Classes.
    pub classes: usize,
    /// Width of the strong features.
    pub feature_dim: usize,
    /// Pool features `(pool, dim)`.
    pub pool_features: &'a [f32],
    /// The weak teacher's pool probabilities `(pool, classes)`.
    pub pool_weak_probs: &'a [f32],
    /// The pool's ground truth.
    pub pool_labels: &'a [u32],
    /// Test features `(test, dim)`.
    pub test_features: &'a [f32],
    /// The weak teacher's test probabilities `(test, classes)`.
    pub test_weak_probs: &'a [f32],
    /// The test split's ground truth.
    pub test_labels: &'a [u32],
    /// Named subsets of the test split (written to `heldout/` only).
    pub test_subsets: Option<&'a TestSubsets>,
    /// Free-form provenance.
    pub provenance: &'a BTreeMap<String, String>,
    /// For a task built from a language model: the `[lm]` section and the
    /// tokenized pool (public) and test split (held out).
    pub lm: Option<LmContents<'a>>,
}

/// The language-model part of a bundle.
#[derive(Debug, Clone, Copy)]
pub struct LmContents<'a> {
    /// `[lm]` in the manifest.
    pub section: &'a LmSection,
    /// The pool, tokenized (written to `public/`).
    pub pool_tokens: &'a TokenSet,
    /// The test split, tokenized (written to `heldout/`).
    pub test_tokens: &'a TokenSet,
}

/// Writes `contents` as a bundle into `out` (which must exist and be
/// empty, or not exist) and returns the task hash.
pub fn write_bundle(out: &Path, c: &BundleContents<'_>) -> Result<String> {
    let (np, nt, d, k) = (
        c.pool_labels.len(),
        c.test_labels.len(),
        c.feature_dim,
        c.classes,
    );
    let shapes_ok = c.pool_features.len() == np * d
        && c.pool_weak_probs.len() == np * k
        && c.test_features.len() == nt * d
        && c.test_weak_probs.len() == nt * k;
    if !shapes_ok {
        return Err(TrainError::invalid(
            "bundle",
            "tensor sizes do not match the split sizes",
        ));
    }
    let count = |n: usize, what: &str| {
        u32::try_from(n)
            .map_err(|_| TrainError::invalid("bundle", format!("{what} = {n} does not fit u32")))
    };
    for sub in ["public", "heldout"] {
        let p = out.join(sub);
        fs::create_dir_all(&p).map_err(|e| TrainError::io(&p, e))?;
    }
    let mut files = BTreeMap::new();
    files.insert(
        bundle::PUBLIC_POOL.to_owned(),
        write_safetensors(
            out,
            bundle::PUBLIC_POOL,
            vec![
                (
                    "features",
                    Dtype::F32,
                    vec![np, d],
                    f32_bytes(c.pool_features),
                ),
                (
                    "weak_probs",
                    Dtype::F32,
                    vec![np, k],
                    f32_bytes(c.pool_weak_probs),
                ),
            ],
        )?,
    );
    files.insert(
        bundle::HELDOUT_POOL_LABELS.to_owned(),
        write_safetensors(
            out,
            bundle::HELDOUT_POOL_LABELS,
            vec![("labels", Dtype::U32, vec![np], u32_bytes(c.pool_labels))],
        )?,
    );
    files.insert(
        bundle::HELDOUT_TEST.to_owned(),
        write_safetensors(
            out,
            bundle::HELDOUT_TEST,
            vec![
                (
                    "features",
                    Dtype::F32,
                    vec![nt, d],
                    f32_bytes(c.test_features),
                ),
                (
                    "weak_probs",
                    Dtype::F32,
                    vec![nt, k],
                    f32_bytes(c.test_weak_probs),
                ),
                ("labels", Dtype::U32, vec![nt], u32_bytes(c.test_labels)),
            ],
        )?,
    );
    if let Some(subsets) = c.test_subsets {
        subsets.validate(out, nt)?;
        let bytes = serde_json::to_vec(subsets).expect("subsets serialize");
        let path = out.join(HELDOUT_TEST_SUBSETS);
        fs::write(&path, &bytes).map_err(|e| TrainError::io(&path, e))?;
        files.insert(HELDOUT_TEST_SUBSETS.to_owned(), bundle::sha256_hex(&bytes));
    }
    if let Some(lm) = &c.lm {
        for (rel, set, n) in [
            (PUBLIC_POOL_TOKENS, lm.pool_tokens, np),
            (HELDOUT_TEST_TOKENS, lm.test_tokens, nt),
        ] {
            if set.len() != n || set.max_len() != lm.section.max_seq_len as usize {
                return Err(TrainError::invalid(
                    "bundle",
                    format!("{rel}: token rows do not match the split or max_seq_len"),
                ));
            }
            let bytes = set.to_bytes()?;
            let path = out.join(rel);
            fs::write(&path, &bytes).map_err(|e| TrainError::io(&path, e))?;
            files.insert(rel.to_owned(), bundle::sha256_hex(&bytes));
        }
    }
    let manifest = Manifest {
        format_version: FormatV1,
        name: c.name.to_owned(),
        classes: count(k, "classes")?,
        feature_dim: count(d, "feature_dim")?,
        splits: Splits {
            pool: count(np, "pool")?,
            test: count(nt, "test")?,
        },
        files,
        provenance: c.provenance.clone(),
        lm: c.lm.map(|lm| lm.section.clone()),
    };
    manifest.write(out)
}

/// Writes `tensors` (name, dtype, shape, little-endian bytes) to `dir/rel`
/// and returns the file's sha256.
fn write_safetensors(
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

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
