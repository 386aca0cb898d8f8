//! One build: dataset and models in, a task bundle out.
//!
//! 1. Read and split the dataset (every bad line is an error naming it).
//! 2. Open both model directories: config, tokenizer checked against it,
//!    weight files hashed; resolve the layers (default: the middle).
//! 3. Pooled hidden states: the strong model on the pool and the test
//!    split, the weak model on the labeled split too; each from the
//!    activation cache when a verified entry exists, else extracted.
//! 4. Train the weak probe on the weak features of the labeled split (the
//!    only use of ground truth outside `heldout/`), and write its
//!    probabilities on the pool and the test split as `weak_probs`.
//! 5. Standardize the strong features with the pool's statistics
//!    (unlabeled, so no ground truth), unless told not to.
//! 6. Measure the task card ([`crate::card`]): the weak teacher's test
//!    accuracy against a linear probe on the strong features trained on
//!    the pool's ground truth; only its aggregates enter provenance.
//! 7. Write the bundle into a temporary sibling of the output directory
//!    and rename it into place: a failed build leaves nothing behind.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;
use sha2::{Digest, Sha256};
use w2s_lm::extract::{ExtractionModel, Progress, extract};
use w2s_lm::{ModelDir, Pooling};
use w2s_train::bundle_writer::{BundleContents, write_bundle};
use w2s_train::recipe;
use w2s_train::test_subsets::TestSubsets;

use crate::cache::{ActivationCache, CacheKey, CacheStatus};
use crate::card::{CardInputs, TaskCard};
use crate::dataset::{Dataset, Example, Format, SplitRule};
use crate::error::{BuildError, Result};
use crate::probe::{ProbeSettings, Standardizer, WeakProbe};

mod provenance;

/// How the strong features are scaled before they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureScaling {
    /// Each feature standardized with the pool's mean and deviation.
    #[default]
    Standardize,
    /// Raw hidden states.
    None,
}

impl FeatureScaling {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            FeatureScaling::Standardize => "standardize-by-pool",
            FeatureScaling::None => "none",
        }
    }
}

/// Everything a build takes.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The dataset: a directory (AAR formats) or a file (jsonl).
    pub data: PathBuf,
    /// Its format.
    pub format: Format,
    /// The generic format's split rule.
    pub split_rule: SplitRule,
    /// The generic format's class count (default 2).
    pub classes: Option<u32>,
    /// The dataset's revision (a commit or version), recorded if given.
    pub dataset_revision: Option<String>,
    /// The strong model: a Hugging Face directory or a GGUF file.
    pub strong: PathBuf,
    /// The weak model: a Hugging Face directory or a GGUF file.
    pub weak: PathBuf,
    /// The strong model's `tokenizer.json` when it is a GGUF file whose
    /// tokenizer cannot be rebuilt from its metadata.
    pub strong_tokenizer: Option<PathBuf>,
    /// The weak model's, as `strong_tokenizer`.
    pub weak_tokenizer: Option<PathBuf>,
    /// The strong model's name in provenance (default: its directory name).
    pub strong_name: Option<String>,
    /// The weak model's name in provenance (default: its directory name).
    pub weak_name: Option<String>,
    /// The strong model's feature layer (default: the middle).
    pub layer: Option<usize>,
    /// The weak model's feature layer (default: its middle).
    pub weak_layer: Option<usize>,
    /// Pooling of both models' hidden states.
    pub pooling: Pooling,
    /// Most tokens per text (longer texts keep their end).
    pub max_tokens: usize,
    /// Texts per forward batch.
    pub batch_size: usize,
    /// The activation cache directory, if any.
    pub cache_dir: Option<PathBuf>,
    /// The weak probe.
    pub probe: ProbeSettings,
    /// The strong features' scaling.
    pub scaling: FeatureScaling,
    /// Seed of the split rule and of the probe.
    pub seed: u64,
    /// The task name (default: `FORMAT-STRONGNAME`).
    pub name: Option<String>,
    /// The bundle directory to create (must not exist).
    pub out: PathBuf,
    /// The `lm-lora` ceiling recipe as `key=value,...` over the AAR's
    /// vanilla setting (`crate::lm_part::parse_recipe`); `None`: that
    /// setting.
    pub lora_ceiling: Option<String>,
}

/// What one model contributed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRun {
    /// The model's name.
    pub name: String,
    /// The layer read.
    pub layer: usize,
    /// How its features were obtained.
    pub cache: CacheStatus,
    /// Real tokens run through it (0 on a cache hit).
    pub tokens_run: usize,
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildSummary {
    /// Task name.
    pub name: String,
    /// sha256 of the bundle's `task.toml`.
    pub task_hash: String,
    /// Labeled, pool and test sizes.
    pub sizes: [usize; 3],
    /// Classes.
    pub classes: usize,
    /// Strong feature width.
    pub feature_dim: usize,
    /// Named test subsets (0 when the test split has none).
    pub test_subsets: usize,
    /// The weak probe's accuracy on the labeled split.
    pub weak_train_acc: f64,
    /// The weak probe's accuracy on the test split (weak_acc).
    pub weak_test_acc: f64,
    /// The strong model.
    pub strong: ModelRun,
    /// The weak model.
    pub weak: ModelRun,
    /// The task card: the gap between the weak teacher and a linear probe
    /// ceiling, and whether it can rank methods.
    pub card: TaskCard,
}

/// Builds the bundle `cfg` describes on `device`. `on_progress(model,
/// progress)` follows each extraction (`model` is "strong" or "weak").
pub fn build(
    cfg: &BuildConfig,
    device: &Device,
    on_progress: &mut dyn FnMut(&str, Progress),
) -> Result<BuildSummary> {
    if cfg.out.exists() {
        return Err(BuildError::invalid(
            "output",
            format!("{} already exists", cfg.out.display()),
        ));
    }
    let data = Dataset::read(&cfg.data, cfg.format, cfg.split_rule, cfg.classes, cfg.seed)?;
    let strong = ModelDir::open_with(&cfg.strong, cfg.strong_tokenizer.as_deref(), cfg.max_tokens)?;
    let weak = ModelDir::open_with(&cfg.weak, cfg.weak_tokenizer.as_deref(), cfg.max_tokens)?;
    let strong_layer = strong.layer(cfg.layer)?;
    let weak_layer = weak.layer(cfg.weak_layer)?;
    let cache = cfg.cache_dir.as_deref().map(ActivationCache::new);
    let name_of = |given: &Option<String>, dir: &Path| {
        given.clone().unwrap_or_else(|| {
            dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
    };
    let (strong_name, weak_name) = (
        name_of(&cfg.strong_name, &cfg.strong),
        name_of(&cfg.weak_name, &cfg.weak),
    );

    let eval_texts: Vec<&Example> = data.pool.iter().chain(&data.test).collect();
    let weak_texts: Vec<&Example> = data
        .labeled
        .iter()
        .chain(eval_texts.iter().copied())
        .collect();
    let extraction = Extraction {
        cfg,
        data: &data,
        cache: cache.as_ref(),
        device,
    };
    let (strong_features, strong_run) =
        extraction.features(&strong, &strong_name, strong_layer, &eval_texts, &mut |p| {
            on_progress("strong", p)
        })?;
    let (weak_features, weak_run) =
        extraction.features(&weak, &weak_name, weak_layer, &weak_texts, &mut |p| {
            on_progress("weak", p)
        })?;

    let (nl, np, nt) = (data.labeled.len(), data.pool.len(), data.test.len());
    let k = data.class_names.len();
    let (wd, sd) = (weak.config.hidden_size, strong.config.hidden_size);
    let labels = |ex: &[Example]| ex.iter().map(|e| e.label).collect::<Vec<u32>>();
    let (labeled_labels, pool_labels, test_labels) = (
        labels(&data.labeled),
        labels(&data.pool),
        labels(&data.test),
    );
    let probe_seed = w2s_train::rng::derive_seed(cfg.seed, "weak-probe");
    let probe = WeakProbe::train(
        &weak_features[..nl * wd],
        wd,
        &labeled_labels,
        k,
        &cfg.probe,
        probe_seed,
    )?;
    let pool_weak = probe.predict(&weak_features[nl * wd..(nl + np) * wd])?;
    let test_weak = probe.predict(&weak_features[(nl + np) * wd..])?;
    let weak_test_acc = recipe::accuracy(&test_weak, k, &test_labels);

    let mut strong_features = strong_features;
    if cfg.scaling == FeatureScaling::Standardize {
        Standardizer::fit(&strong_features[..np * sd], sd).apply(&mut strong_features);
    }
    let card = TaskCard::measure(
        &CardInputs {
            pool_features: &strong_features[..np * sd],
            pool_labels: &pool_labels,
            test_features: &strong_features[np * sd..],
            test_labels: &test_labels,
            dim: sd,
            classes: k,
        },
        weak_test_acc,
        &cfg.probe,
        cfg.seed,
    )?;
    let subsets = data.test_subset_names().map(TestSubsets::from_names);
    let name = cfg.name.clone().unwrap_or_else(|| {
        format!("{}-{strong_name}", cfg.format.name())
            .chars()
            .take(128)
            .collect()
    });
    let mut provenance = provenance::record(
        cfg,
        &data,
        &probe,
        [(&strong, &strong_run), (&weak, &weak_run)],
    );
    provenance.extend(card.provenance());
    provenance.insert(
        "sizes".into(),
        format!("labeled {nl}, pool {np}, test {nt}"),
    );
    let lm = crate::lm_part::lm_part(
        &strong,
        (&cfg.strong, cfg.strong_tokenizer.as_deref()),
        &strong_name,
        &data,
        &cfg.lora_ceiling,
    )?;
    provenance.insert(
        "lm".into(),
        format!(
            "label tokens {:?}, max_seq_len {}, lora ceiling {}",
            lm.section.label_tokens,
            lm.section.max_seq_len,
            serde_json::to_string(&lm.section.ceiling).expect("recipe serializes")
        ),
    );
    let contents = BundleContents {
        name: &name,
        classes: k,
        feature_dim: sd,
        pool_features: &strong_features[..np * sd],
        pool_weak_probs: &pool_weak,
        pool_labels: &pool_labels,
        test_features: &strong_features[np * sd..],
        test_weak_probs: &test_weak,
        test_labels: &test_labels,
        test_subsets: subsets.as_ref(),
        provenance: &provenance,
        lm: Some(w2s_train::bundle_writer::LmContents {
            section: &lm.section,
            pool_tokens: &lm.pool,
            test_tokens: &lm.test,
        }),
    };
    let task_hash = write_in_place(&cfg.out, &contents)?;
    Ok(BuildSummary {
        name,
        task_hash,
        sizes: [nl, np, nt],
        classes: k,
        feature_dim: sd,
        test_subsets: subsets.map_or(0, |s| s.names.len()),
        weak_train_acc: probe.train_acc,
        weak_test_acc,
        strong: strong_run,
        weak: weak_run,
        card,
    })
}

struct Extraction<'a> {
    cfg: &'a BuildConfig,
    data: &'a Dataset,
    cache: Option<&'a ActivationCache>,
    device: &'a Device,
}

impl Extraction<'_> {
    /// Pooled features of `texts` at `layer`, from the cache or the model.
    fn features(
        &self,
        model: &ModelDir,
        name: &str,
        layer: usize,
        texts: &[&Example],
        on_batch: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<f32>, ModelRun)> {
        let dim = model.config.hidden_size;
        let key = self.key(model, layer, texts);
        let status = match self.cache.map(|c| c.get(&key, texts.len(), dim)) {
            None => CacheStatus::Disabled,
            Some(Ok(Some(features))) => {
                let run = ModelRun {
                    name: name.to_owned(),
                    layer,
                    cache: CacheStatus::Hit,
                    tokens_run: 0,
                };
                return Ok((features, run));
            }
            Some(Ok(None)) => CacheStatus::Miss,
            Some(Err(reason)) => CacheStatus::Recomputed { reason },
        };
        let decoder = ExtractionModel::load(model.weights(), &model.config, layer, self.device)?;
        let strs: Vec<&str> = texts.iter().map(|e| e.text.as_str()).collect();
        let (features, tokens_run) = extract(
            &decoder,
            &model.tokenizer,
            &strs,
            self.cfg.pooling,
            self.cfg.batch_size,
            on_batch,
        )?;
        if let Some(cache) = self.cache {
            cache.put(&key, &features, texts.len(), dim)?;
        }
        Ok((
            features,
            ModelRun {
                name: name.to_owned(),
                layer,
                cache: status,
                tokens_run,
            },
        ))
    }

    fn key(&self, model: &ModelDir, layer: usize, texts: &[&Example]) -> CacheKey {
        let mut h = Sha256::new();
        for e in texts {
            h.update((e.text.len() as u64).to_le_bytes());
            h.update(e.text.as_bytes());
        }
        let fields = [
            ("model_files", model.fingerprint()),
            ("dataset_sha256", self.data.sha256()),
            ("texts_sha256", hex::encode(h.finalize())),
            ("layer", layer.to_string()),
            ("pooling", self.cfg.pooling.name().to_owned()),
            ("max_tokens", self.cfg.max_tokens.to_string()),
            ("batch_size", self.cfg.batch_size.to_string()),
            ("device", w2s_train::device::describe(self.device)),
        ];
        CacheKey {
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }
}

/// Writes the bundle into a temporary sibling of `out`, then renames it.
fn write_in_place(out: &Path, contents: &BundleContents<'_>) -> Result<String> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| BuildError::io(&parent, e))?;
    let leaf = out
        .file_name()
        .map_or_else(|| "task".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| BuildError::io(&tmp, e))?;
    }
    let result = write_bundle(&tmp, contents)
        .map_err(BuildError::from)
        .and_then(|hash| {
            std::fs::rename(&tmp, out)
                .map(|()| hash)
                .map_err(|e| BuildError::io(out, e))
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
