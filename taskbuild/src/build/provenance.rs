//! The manifest's provenance: everything that shaped a built bundle (see
//! `docs/TASK_FORMAT.md`, "Provenance"). The manifest is public, so nothing
//! here names a test subset.

use std::collections::BTreeMap;

use serde::Serialize;
use w2s_lm::ModelDir;

use super::{BuildConfig, ModelRun};
use crate::dataset::Dataset;
use crate::probe::WeakProbe;

/// The provenance entries of a build.
pub(crate) fn record(
    cfg: &BuildConfig,
    data: &Dataset,
    probe: &WeakProbe,
    models: [(&ModelDir, &ModelRun); 2],
) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("generator".into(), "w2s task build".into());
    p.insert("dataset_format".into(), data.format.name().into());
    p.insert("dataset_sha256".into(), data.sha256());
    p.insert("dataset_files".into(), json(&data.files));
    if let Some(rev) = &cfg.dataset_revision {
        p.insert("dataset_revision".into(), rev.clone());
    }
    p.insert("dataset_split".into(), data.split.clone());
    p.insert("text_template".into(), data.template().into());
    p.insert("class_names".into(), json(&data.class_names));
    for ((model, run), role) in models.into_iter().zip(["strong", "weak"]) {
        p.insert(format!("{role}_model"), run.name.clone());
        p.insert(
            format!("{role}_family"),
            model.config.family.architecture().into(),
        );
        p.insert(format!("{role}_files_sha256"), json(&model.file_hashes));
        if let Some(types) = model.quant_types() {
            // A GGUF: its tensors' types (the file's sha256 is in
            // `{role}_files_sha256`); its figures are the dequantized model's.
            p.insert(format!("{role}_gguf_quant_types"), json(&types));
        }
        p.insert(
            format!("{role}_layer"),
            format!("{} of {}", run.layer, model.config.num_layers),
        );
    }
    p.insert("pooling".into(), cfg.pooling.name().into());
    p.insert(
        "extraction".into(),
        format!(
            "f32, at most {} tokens per text (truncated from the left), batches of {}, {}",
            cfg.max_tokens,
            cfg.batch_size,
            crate::cache::CACHE_VERSION
        ),
    );
    p.insert("strong_feature_scaling".into(), cfg.scaling.name().into());
    p.insert("weak_probe".into(), json(&cfg.probe));
    p.insert("weak_probe_recipe".into(), cfg.probe.recipe().id());
    p.insert(
        "weak_probe_train_acc".into(),
        format!("{:.4}", probe.train_acc),
    );
    p.insert("seed".into(), cfg.seed.to_string());
    p
}

/// Compact JSON of a provenance value.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("provenance serializes")
}
