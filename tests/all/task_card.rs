//! Issue 17: the task card of `w2s task build` (printed, in the public
//! provenance, shown by `w2s task check`), progress lines from a build
//! whose stderr is not a terminal, the `small-gap` flag on a task whose
//! weak-ceiling gap is too small to rank methods, and `w2s bench methods
//! --task` on a built bundle.

use std::path::Path;

use w2s_lm::Family;
use w2s_lm::random_model::RandomModel;

use crate::helpers::{eval_report, flag_codes, plugin, repo, run, w2s};

/// A `{"text", "label"}` JSONL file: the label is told by a word in the
/// middle of the text, so a model that reads the context can find it; every
/// text ends with the same token.
fn write_jsonl(path: &Path, rows: usize) {
    let text: String = (0..rows)
        .map(|i| {
            let (label, word) = if (i * 7 + i / 5) % 2 == 0 {
                (0, "worse")
            } else {
                (1, "better")
            };
            format!(
                "{{\"text\":\"item {} is {word} than item {}. Answer:\",\"label\":{label}}}\n",
                i % 13,
                i % 17
            )
        })
        .collect();
    std::fs::write(path, text).unwrap();
}

/// Tiny random strong and weak models and a dataset under `d`.
fn models_and_data(d: &Path) {
    RandomModel::tiny(Family::Qwen2)
        .write(&d.join("strong"), 21)
        .unwrap();
    RandomModel::tiny(Family::Llama)
        .write(&d.join("weak"), 22)
        .unwrap();
    write_jsonl(&d.join("data.jsonl"), 400);
}

/// `w2s task build` on the models and data of [`models_and_data`], at the
/// given layers, with `extra` flags; asserts success, returns (stdout,
/// stderr).
fn build(d: &Path, out: &str, layer: &str, weak_layer: &str, extra: &[&str]) -> (String, String) {
    let (status, stdout, stderr) = run(w2s()
        .args(["task", "build", "--format", "jsonl", "--data"])
        .arg(d.join("data.jsonl"))
        .arg("--strong")
        .arg(d.join("strong"))
        .arg("--weak")
        .arg(d.join("weak"))
        .args(["--layer", layer, "--weak-layer", weak_layer, "--cache-dir"])
        .arg(d.join("cache"))
        .arg("--out")
        .arg(d.join(out))
        .args(extra));
    assert!(
        status.status.success(),
        "task build failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// Labeled, pool and test sizes from a build's summary line.
fn sizes(stdout: &str) -> [usize; 3] {
    let after = |key: &str| -> usize {
        let rest = &stdout[stdout
            .find(key)
            .unwrap_or_else(|| panic!("{key}: {stdout}"))
            + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    [after("labeled "), after("pool "), after("test ")]
}

fn provenance(bundle: &Path) -> toml::Table {
    let text = std::fs::read_to_string(bundle.join("task.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["provenance"].as_table().unwrap().clone()
}

#[test]
fn task_build_prints_a_card_records_it_and_task_check_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    models_and_data(d);
    let (stdout, _) = build(d, "task", "2", "0", &[]);
    for needle in [
        "task card:",
        "weak teacher test accuracy:",
        "ceiling (linear probe on the strong features, pool ground truth, 5 seeds):",
        "gap:",
        "verdict:",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    let p = provenance(&d.join("task"));
    for key in [
        "card_weak_test_acc",
        "card_ceiling",
        "card_gap",
        "card_verdict",
    ] {
        assert!(p.contains_key(key), "{key}: {p:?}");
    }
    // Only aggregates: four card entries, each one line.
    assert_eq!(p.keys().filter(|k| k.starts_with("card_")).count(), 4);
    let (out, check, stderr) = run(w2s().args(["task", "check"]).arg(d.join("task")));
    assert!(out.status.success(), "{stderr}");
    assert!(check.contains("task card:"), "{check}");
    assert!(
        check.contains(&format!(
            "weak teacher test accuracy: {}",
            p["card_weak_test_acc"].as_str().unwrap()
        )),
        "{check}"
    );

    // Both models read the embedding of the same last token ("Answer:"
    // closes every text): constant features, no gap, a card that says so.
    let (stdout, _) = build(d, "flat", "0", "0", &[]);
    assert!(
        stdout.contains("verdict: too small to rank methods"),
        "{stdout}"
    );
    assert!(stdout.contains("larger strong model"), "{stdout}");
}

#[test]
fn a_build_whose_stderr_is_piped_prints_progress_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    models_and_data(d);
    // The test's stderr is a pipe, not a terminal: lines, not a bar.
    let (stdout, stderr) = build(d, "task", "2", "1", &["--progress-every", "0"]);
    let sizes = sizes(&stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    let strong: Vec<&&str> = lines.iter().filter(|l| l.starts_with("strong: ")).collect();
    let weak: Vec<&&str> = lines.iter().filter(|l| l.starts_with("weak: ")).collect();
    // A line per batch of 8: the strong model reads the pool and the test
    // split, the weak one the labeled split too.
    let strong_texts = sizes[1] + sizes[2];
    assert_eq!(strong.len(), strong_texts.div_ceil(8), "{stderr}");
    assert_eq!(
        weak.len(),
        (strong_texts + sizes[0]).div_ceil(8),
        "{stderr}"
    );
    assert!(
        strong[0].starts_with(&format!("strong: 8/{strong_texts} rows, ")),
        "{stderr}"
    );
    let last = strong.last().unwrap();
    assert!(
        last.starts_with(&format!("strong: {strong_texts}/{strong_texts} rows, ")),
        "{stderr}"
    );
    assert!(last.ends_with("done"), "{stderr}");
    for l in strong.iter().chain(&weak) {
        assert!(l.contains("tokens/s") && l.contains("elapsed"), "{l}");
    }
    assert!(!stderr.contains('\r'), "no bar drawn: {stderr:?}");
}

/// The methods smoke task of `tests/all/methods.rs` with a test split of
/// 60: measured weak 0.357 / 0.656 and ceiling 0.664 / 0.825 (public /
/// private), a gap of about 0.23 against 3 standard errors of about 0.26.
const SMALL_GAP_TASK: &str = r#"{"name":"small-gap","seed":11,"pool":600,"test":60,"teacher_train":2000,"classes":4,"feature_dim":64,"latent":8,"concept_width":32,"strong_noise":0.1,"weak_visible":6,"weak_noise":0.8}"#;

#[test]
fn a_task_with_a_small_gap_is_flagged_small_gap() {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join("task");
    let (out, _, stderr) = run(w2s()
        .args(["task", "synth", "--config-json", SMALL_GAP_TASK, "--out"])
        .arg(&task));
    assert!(out.status.success(), "{stderr}");
    let (report, _) = eval_report(
        &plugin("vanilla"),
        &task,
        dir.path(),
        "r.json",
        &["--seeds", "1"],
    );
    let flags = flag_codes(&report);
    assert!(flags.contains(&"small-gap".to_owned()), "{flags:?}");
    let message = report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "small-gap")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("under 3 standard errors"), "{message}");
    assert!(!message.contains("0."), "no held-out figure: {message}");
}

#[test]
fn bench_methods_on_a_built_task_names_its_models_dataset_and_card() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    models_and_data(d);
    build(d, "task", "2", "0", &["--name", "tiny-real"]);
    plugin("vanilla"); // builds the plugins
    let md_path = d.join("RESULTS-real.md");
    let (out, stdout, stderr) = run(w2s()
        .args(["bench", "methods", "--smoke", "--seeds", "2", "--controls"])
        .args(["--methods", "vanilla,soft-label,confident-only"])
        .arg("--methods-file")
        .arg(repo().join("plugins/methods.toml"))
        .arg("--wasm-dir")
        .arg(repo().join("plugins/target/wasm32-wasip2/release"))
        .arg("--task")
        .arg(d.join("task"))
        .args(["--families", "latent", "--tasks-dir"])
        .arg(d.join("tasks"))
        .arg("--out")
        .arg(&md_path));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let md = std::fs::read_to_string(&md_path).unwrap();
    for needle in [
        "# Results: weak-to-strong methods on built tasks and the task families",
        "## Tasks",
        "### Task cards",
        "## tiny-real",
        "## latent",
        "strong (Qwen2ForCausalLM), layer 2 of",
        "weak (LlamaForCausalLM), layer 0 of",
        "jsonl `data.jsonl`",
        "linear probe on the strong features",
        "| flags |",
        "Method orderings on latent and on tiny-real: Spearman rank correlation",
        "On tiny-real, the 3 methods scored span private PGR",
    ] {
        assert!(md.contains(needle), "{needle}:\n{md}");
    }
    let p = provenance(&d.join("task"));
    assert!(
        md.contains(p["card_verdict"].as_str().unwrap()),
        "the card's verdict: {md}"
    );
}
