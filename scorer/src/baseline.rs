//! Baselines (weak and ceiling accuracies) and their cache.
//!
//! The ceiling is the reference recipe ([`Recipe::reference`]) trained on
//! the pool's ground truth under [`CEILING_SEEDS`] seeds that the scorer
//! derives from the task hash: nobody submits them. The weak baseline is
//! deterministic: the teacher's stored test probabilities, one figure, no
//! seeds. Both are measured on each part of the test split
//! ([`crate::splits`]).
//!
//! Training the ceiling is the slowest part of scoring, so the result is
//! cached in the bundle at `cache/baselines.json`, under a key that hashes
//! the task, the recipe, the seeds, the split rule, [`BASELINE_CODE_VERSION`]
//! and the scorer's own version. The entry also carries a checksum of its
//! own content. An entry whose key or checksum does not match is
//! recomputed, never trusted; the report says which happened.
//!
//! The checksum detects hand edits and corruption, not a forger who
//! recomputes it: the cache is only as trustworthy as the directory it
//! lives in, which must not be writable by submitters (see
//! `docs/SCORING.md`).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use w2s_train::recipe::{self, Recipe};
use w2s_train::rng::derive_seed;

use crate::error::ScorerError;
use crate::heldout::Heldout;
use crate::splits::{Part, SPLIT_RULE, TestSplit};
use crate::subsets;

/// Number of ceiling seeds.
pub const CEILING_SEEDS: usize = 5;
/// Bumped whenever baseline code changes what it computes.
pub const BASELINE_CODE_VERSION: &str = "baseline-v2";
/// The scorer's version, part of every cache key.
pub const SCORER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the cache lives inside a bundle.
pub const CACHE_FILE: &str = "cache/baselines.json";
/// Where the `lm-lora` baselines' cache lives inside a bundle.
pub const LORA_CACHE_FILE: &str = "cache/lora_baselines.json";
/// Seeds of the `lm-lora` ceiling: one, since each is a full fine-tune of
/// the strong model (the head ceiling has [`CEILING_SEEDS`]).
pub const LORA_CEILING_SEEDS: usize = 1;

pub use w2s_verdict::{Baselines, CacheStatus, PartBaselines};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheEntry {
    key: String,
    baselines: Baselines,
    checksum: String,
}

/// The seeds the ceiling is trained under for a task.
pub fn ceiling_seeds(task_hash: &str) -> Vec<u64> {
    let base = derive_seed(0, task_hash);
    (0..CEILING_SEEDS)
        .map(|i| derive_seed(base, &format!("ceiling/{i}")))
        .collect()
}

fn cache_key(task_hash: &str, recipe_id: &str, seeds: &[u64]) -> String {
    let text = format!(
        "{task_hash}\n{recipe_id}\n{BASELINE_CODE_VERSION}\nscorer {SCORER_VERSION}\n{SPLIT_RULE}\n{seeds:?}"
    );
    w2s_train::bundle::sha256_hex(text.as_bytes())
}

fn checksum(key: &str, b: &Baselines) -> String {
    let body = serde_json::to_string(b).expect("baselines serialize");
    w2s_train::bundle::sha256_hex(format!("{key}\n{body}").as_bytes())
}

fn read_cache(path: &Path, key: &str) -> Result<Option<Baselines>, String> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    let entry: CacheEntry = serde_json::from_str(&text).map_err(|e| format!("malformed: {e}"))?;
    if entry.key != key {
        return Err(
            "key does not match this task, recipe, seeds, split rule and scorer version".into(),
        );
    }
    if entry.checksum != checksum(&entry.key, &entry.baselines) {
        return Err("checksum does not match its content (edited by hand?)".into());
    }
    Ok(Some(entry.baselines))
}

/// Computes the baselines from scratch. `on_step(done, total)` reports
/// ceiling training progress over all seeds.
pub fn compute(
    h: &Heldout,
    split: &TestSplit,
    recipe: &Recipe,
    seeds: &[u64],
    on_step: &mut dyn FnMut(u64, u64),
) -> Result<Baselines, ScorerError> {
    let k = h.classes();
    let targets = recipe::one_hot(&h.pool_labels, k);
    let per_seed = recipe.total_steps(h.pool_labels.len());
    let total = per_seed * seeds.len() as u64;
    let mut ceiling = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        let offset = per_seed * i as u64;
        let head = recipe.train(&h.pool_features, &targets, k, seed, &mut |s, _| {
            on_step(offset + s, total)
        })?;
        let probs = recipe::predict_all(&head, &h.test_features, 4096)?;
        ceiling.push(recipe::argmax_rows(&probs, k));
    }
    Ok(assemble(h, split, recipe.id(), seeds, &ceiling))
}

/// The baselines from the ceiling's test predictions, one row per seed.
pub(crate) fn assemble(
    h: &Heldout,
    split: &TestSplit,
    recipe_id: String,
    seeds: &[u64],
    ceiling: &[Vec<u32>],
) -> Baselines {
    let weak = recipe::argmax_rows(&h.test_weak_probs, h.classes());
    let part = |part: Part| PartBaselines {
        weak_acc: split.accuracy(part, &weak, &h.test_labels),
        ceiling_accs: ceiling
            .iter()
            .map(|predicted| split.accuracy(part, predicted, &h.test_labels))
            .collect(),
    };
    let subsets = match &h.test_subsets {
        Some(s) => subsets::baselines(split, s, &weak, ceiling, &h.test_labels),
        None => Vec::new(),
    };
    Baselines {
        ceiling_seeds: seeds.to_vec(),
        recipe: recipe_id,
        public: part(Part::Public),
        private: part(Part::Private),
        subsets,
    }
}

/// The baselines for the bundle at `dir`, from its cache when the cache is
/// valid. A failure to write the cache (a read-only bundle) is not an
/// error: the result is simply not cached.
pub fn load_or_compute(
    dir: &Path,
    h: &Heldout,
    split: &TestSplit,
    on_step: &mut dyn FnMut(u64, u64),
) -> Result<(Baselines, CacheStatus), ScorerError> {
    let recipe = Recipe::reference();
    let seeds = ceiling_seeds(&h.task_hash);
    cached(
        dir.join(CACHE_FILE),
        cache_key(&h.task_hash, &recipe.id(), &seeds),
        || compute(h, split, &recipe, &seeds, on_step),
    )
}

/// The `lm-lora` baselines: the same weak figure, and as ceiling the
/// task's `[lm] ceiling` recipe trained on the pool's ground truth under
/// [`LORA_CEILING_SEEDS`] seed(s), cached in [`LORA_CACHE_FILE`] like the
/// head ceiling.
pub fn load_or_compute_lora(
    dir: &Path,
    h: &Heldout,
    lm: &crate::lora::LoraHeldout,
    split: &TestSplit,
    on_step: &mut dyn FnMut(u64, u64),
) -> Result<(Baselines, CacheStatus), ScorerError> {
    let recipe = &lm.section.ceiling;
    let seeds: Vec<u64> = ceiling_seeds(&h.task_hash)[..LORA_CEILING_SEEDS].to_vec();
    let id = format!("lm-lora {}", recipe.id());
    cached(
        dir.join(LORA_CACHE_FILE),
        cache_key(&h.task_hash, &id, &seeds),
        || {
            let targets = recipe::one_hot(&h.pool_labels, h.classes());
            let per_seed = recipe.total_steps(h.pool_labels.len());
            let total = per_seed * seeds.len() as u64;
            let mut ceiling = Vec::new();
            for (i, &seed) in seeds.iter().enumerate() {
                let offset = per_seed * i as u64;
                let student = recipe.train(
                    lm.backbone.clone(),
                    &lm.pool_tokens,
                    &targets,
                    seed,
                    &mut |s, _| on_step(offset + s, total),
                )?;
                ceiling.push(lm.predict(&student)?);
            }
            Ok(assemble(h, split, id.clone(), &seeds, &ceiling))
        },
    )
}

/// `compute` unless `path` holds a valid entry under `key`; writes the
/// entry back (best effort).
fn cached(
    path: PathBuf,
    key: String,
    compute: impl FnOnce() -> Result<Baselines, ScorerError>,
) -> Result<(Baselines, CacheStatus), ScorerError> {
    let status = match read_cache(&path, &key) {
        Ok(Some(b)) => return Ok((b, CacheStatus::Hit)),
        Ok(None) => CacheStatus::Miss,
        Err(reason) => CacheStatus::Recomputed { reason },
    };
    let baselines = compute()?;
    let entry = CacheEntry {
        checksum: checksum(&key, &baselines),
        key,
        baselines: baselines.clone(),
    };
    let json = serde_json::to_string_pretty(&entry).expect("cache entry serializes");
    if let Some(parent) = path.parent() {
        let _ = fs::create_dir_all(parent);
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    if fs::write(&tmp, json).is_ok() {
        let _ = fs::rename(&tmp, &path);
    }
    Ok((baselines, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_the_task() {
        assert_eq!(ceiling_seeds("a"), ceiling_seeds("a"));
        assert_ne!(ceiling_seeds("a"), ceiling_seeds("b"));
        assert_eq!(ceiling_seeds("a").len(), CEILING_SEEDS);
    }

    #[test]
    fn a_fresh_entry_survives_its_json_round_trip() {
        // Regression: without serde_json's float_roundtrip, some means (this
        // one is a real ceiling mean) came back one ulp off, the checksum
        // failed, and every run recomputed the ceiling.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baselines.json");
        let b = Baselines {
            ceiling_seeds: vec![u64::MAX, 0],
            recipe: "r".into(),
            public: PartBaselines {
                weak_acc: 0.5743333333333334,
                ceiling_accs: vec![
                    0.916,
                    0.9156666666666666,
                    0.9163333333333332,
                    0.9178666666666664,
                ],
            },
            private: PartBaselines {
                weak_acc: 0.1 + 0.2,
                ceiling_accs: vec![0.9179666666666664],
            },
            subsets: Vec::new(),
        };
        let entry = CacheEntry {
            key: "k".into(),
            checksum: checksum("k", &b),
            baselines: b.clone(),
        };
        fs::write(&path, serde_json::to_string_pretty(&entry).unwrap()).unwrap();
        assert_eq!(read_cache(&path, "k").unwrap(), Some(b));
    }

    #[test]
    fn edited_cache_entry_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baselines.json");
        let b = Baselines {
            ceiling_seeds: vec![1],
            recipe: "r".into(),
            public: PartBaselines {
                weak_acc: 0.5,
                ceiling_accs: vec![0.9],
            },
            private: PartBaselines {
                weak_acc: 0.5,
                ceiling_accs: vec![0.8],
            },
            subsets: Vec::new(),
        };
        let entry = CacheEntry {
            key: "k".into(),
            checksum: checksum("k", &b),
            baselines: b.clone(),
        };
        fs::write(&path, serde_json::to_string(&entry).unwrap()).unwrap();
        assert_eq!(read_cache(&path, "k").unwrap(), Some(b));
        let edited = fs::read_to_string(&path).unwrap().replace("0.9", "0.99");
        fs::write(&path, edited).unwrap();
        assert!(read_cache(&path, "k").unwrap_err().contains("checksum"));
        assert!(read_cache(&path, "other").unwrap_err().contains("key"));
    }
}
