//! The "Tasks" section of a results file for bundles given with `--task`:
//! what each was built from (models, layers, dataset) and its task card,
//! all read from the manifest's public provenance (`w2s task build` writes
//! them; see `docs/TASK_FORMAT.md`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::results::{Bench, TaskKind, cell_text, parts};

/// A provenance value, or a dash when the bundle does not record it.
fn get<'a>(p: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    p.get(key).map_or("-", String::as_str)
}

/// `NAME (FAMILY), layer L of N`.
fn model(p: &BTreeMap<String, String>, role: &str) -> String {
    format!(
        "{} ({}), layer {}",
        get(p, &format!("{role}_model")),
        get(p, &format!("{role}_family")),
        get(p, &format!("{role}_layer"))
    )
}

/// The dataset: format, files, revision and sha256.
fn dataset(p: &BTreeMap<String, String>) -> String {
    let files = serde_json::from_str::<BTreeMap<String, String>>(get(p, "dataset_files"))
        .map(|f| f.into_keys().collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| get(p, "dataset_files").to_owned());
    let revision = p
        .get("dataset_revision")
        .map_or(String::new(), |r| format!(", revision {r}"));
    let sha = get(p, "dataset_sha256");
    format!(
        "{} `{files}`{revision}, sha256:{}; {}",
        get(p, "dataset_format"),
        &sha[..sha.len().min(12)],
        get(p, "sizes")
    )
}

/// Writes the section when the bench ran on any bundle.
pub(crate) fn render_bundles(b: &Bench, out: &mut String) {
    let bundles: Vec<_> = b
        .families
        .iter()
        .filter_map(|f| match &f.kind {
            TaskKind::Bundle { dir, provenance } => Some((f, dir, provenance)),
            TaskKind::Family(_) => None,
        })
        .collect();
    if bundles.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Tasks\n");
    let _ = writeln!(
        out,
        "What each bundle was built from, from its manifest's provenance. Weak and ceiling \
         accuracies are the scorer's (ceiling: the reference recipe on the pool's ground truth).\n"
    );
    let _ = writeln!(
        out,
        "| task | bundle | strong model | weak model | pooling | dataset | weak acc (public / private) | ceiling acc (public / private) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (f, dir, p) in &bundles {
        let _ = writeln!(
            out,
            "| {} | `{}` sha256:{} | {} | {} | {} | {} | {} | {} |",
            cell_text(&f.label),
            cell_text(dir),
            &f.task_hash[..f.task_hash.len().min(12)],
            cell_text(&model(p, "strong")),
            cell_text(&model(p, "weak")),
            cell_text(get(p, "pooling")),
            cell_text(&dataset(p)),
            parts(f.weak),
            parts(f.ceiling)
        );
    }
    let _ = writeln!(out, "\n### Task cards\n");
    let _ = writeln!(
        out,
        "Written by `w2s task build` (its own linear-probe ceiling, on the whole test split; \
         a gap under 3 standard errors cannot rank methods, and the scorer flags such a \
         task's reports `small-gap`).\n"
    );
    let _ = writeln!(
        out,
        "| task | weak teacher test acc | ceiling | gap | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (f, _, p) in &bundles {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell_text(&f.label),
            cell_text(get(p, "card_weak_test_acc")),
            cell_text(get(p, "card_ceiling")),
            cell_text(get(p, "card_gap")),
            cell_text(
                p.get("card_verdict")
                    .map_or("no card (built before cards)", String::as_str)
            )
        );
    }
}
