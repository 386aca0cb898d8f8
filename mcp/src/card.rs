//! The `task_card` tool: the public card of a task, from its manifest
//! (`task.toml`, public by the bundle format; `heldout/` is never opened).
//!
//! A bundle may carry a card in its provenance, as entries whose keys start
//! with `card_` (`card_summary`, `card_intended_use`, ...): they are shown
//! under `card`, without the prefix. Without them, the card is the
//! manifest's public summary: name, classes, feature dimension, split
//! sizes, and how the bundle was made (the provenance's generator or
//! dataset format).

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Provenance keys of a task card.
const CARD_PREFIX: &str = "card_";

/// The public card of the bundle at `dir`, named `name`.
pub fn task_card(name: &str, dir: &Path) -> Result<Value> {
    let path = dir.join("task.toml");
    let text = std::fs::read_to_string(&path).map_err(|_| Error::UnknownTask(name.to_owned()))?;
    let manifest: toml::Table = text
        .parse()
        .map_err(|_| Error::UnknownTask(name.to_owned()))?;
    let provenance = manifest
        .get("provenance")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let card: Map<String, Value> = provenance
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(CARD_PREFIX)?;
            Some((key.to_owned(), toml_to_json(v)))
        })
        .collect();
    let made_by = ["generator", "dataset_format", "strong_model", "weak_model"]
        .iter()
        .filter_map(|k| Some((k.to_string(), toml_to_json(provenance.get(*k)?))))
        .collect::<Map<String, Value>>();
    let splits = manifest.get("splits").map(toml_to_json);
    Ok(json!({
        "task": name,
        "manifest_name": manifest.get("name").map(toml_to_json),
        "classes": manifest.get("classes").map(toml_to_json),
        "feature_dim": manifest.get("feature_dim").map(toml_to_json),
        "splits": splits,
        "made_by": made_by,
        "card": if card.is_empty() { Value::Null } else { Value::Object(card) },
        "note": "public manifest fields only; the held-out labels and test features are never shown",
    }))
}

fn toml_to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_card_fields_and_the_summary() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("task.toml"),
            "format_version = 1\nname = \"t\"\nclasses = 2\nfeature_dim = 8\n\
             [splits]\npool = 10\ntest = 5\n[files]\n\"heldout/test.safetensors\" = \"00\"\n\
             [provenance]\ngenerator = \"w2s task synth\"\ncard_summary = \"a toy\"\n",
        )
        .unwrap();
        let card = task_card("t", tmp.path()).unwrap();
        assert_eq!(card["card"]["summary"], "a toy");
        assert_eq!(card["splits"]["pool"], 10);
        assert_eq!(card["made_by"]["generator"], "w2s task synth");
        assert!(!card.to_string().contains("heldout"));
        let err = task_card("nope", &tmp.path().join("nope")).unwrap_err();
        assert_eq!(err.code(), "unknown_task");
    }
}
