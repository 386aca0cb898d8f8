//! `w2s task build` on tiny random models and a generated AAR chat
//! dataset, then `w2s eval plugins/vanilla` on the bundle: a report with
//! overall and per-subset figures.

use std::path::Path;

use w2s_lm::Family;
use w2s_lm::random_model::RandomModel;

use crate::helpers::{eval_report, plugin, run, task_build, w2s};

/// An AAR chat directory: the label is told by a word in the middle of
/// the text (so a model must look back to see it), and the test rows
/// carry one of two subset names.
fn write_chat(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let row = |i: usize| {
        let (label, word) = if (i * 7 + i / 5).is_multiple_of(2) {
            ("A", "worse")
        } else {
            ("B", "better")
        };
        let subset = ["helpsteer2_val", "reward_bench_2"][i % 2];
        format!(
            r#"{{"prompt":"q{}","first":"the second is {word}","second":"ok {}","label":"{label}","subset":"{subset}"}}"#,
            i % 13,
            i % 17
        )
    };
    let lines = |r: std::ops::Range<usize>| r.map(row).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.join("train_label.jsonl"), lines(0..100)).unwrap();
    std::fs::write(dir.join("train_unlabel.jsonl"), lines(100..400)).unwrap();
    std::fs::write(dir.join("test.jsonl"), lines(400..600)).unwrap();
}

#[test]
fn task_build_then_eval_gives_a_report_with_subset_figures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    RandomModel::tiny(Family::Qwen2)
        .write(&d.join("strong"), 11)
        .unwrap();
    RandomModel::tiny(Family::Llama)
        .write(&d.join("weak"), 12)
        .unwrap();
    write_chat(&d.join("chat"));
    let task = d.join("task");
    let cache = d.join("cache");
    let stdout = task_build(
        "aar-chat",
        &d.join("chat"),
        [&d.join("strong"), &d.join("weak")],
        // The weak teacher reads the embeddings of the last token only
        // ("Label:" everywhere): a teacher that knows little.
        &[
            "--layer",
            "2",
            "--weak-layer",
            "0",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &task,
    );
    assert!(
        stdout.contains("labeled 100, pool 300, test 200, 2 classes, 32 features, 2 test subsets"),
        "{stdout}"
    );
    let (out, stdout, stderr) = run(w2s().args(["task", "check"]).arg(&task));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("2 test subsets"), "{stdout}");

    let (report, table) = eval_report(&plugin("vanilla"), &task, d, "r.json", &["--seeds", "1"]);
    let private = &report["score"]["private"];
    assert!(private["pgr"]["mean"].is_number(), "{private}");
    let subsets = private["subsets"].as_array().unwrap();
    let names: Vec<&str> = subsets
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["helpsteer2_val", "reward_bench_2"]);
    let sizes: u64 = subsets.iter().map(|s| s["size"].as_u64().unwrap()).sum();
    assert_eq!(
        sizes,
        report["score"]["split"]["private_size"].as_u64().unwrap()
    );
    for s in subsets {
        assert!(
            s["student_acc"]["mean"].is_number() && s["weak_acc"].is_number(),
            "{s}"
        );
    }
    assert!(table.contains("helpsteer2_val: private PGR"), "{table}");
}

#[test]
fn task_build_refuses_a_layer_out_of_range_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    RandomModel::tiny(Family::Qwen3)
        .write(&d.join("m"), 1)
        .unwrap();
    write_chat(&d.join("chat"));
    let (out, _, stderr) = run(w2s()
        .args(["task", "build", "--format", "aar-chat", "--data"])
        .arg(d.join("chat"))
        .arg("--strong")
        .arg(d.join("m"))
        .arg("--weak")
        .arg(d.join("m"))
        .args(["--layer", "9", "--no-cache", "--out"])
        .arg(d.join("task")));
    assert!(!out.status.success());
    assert!(stderr.contains("layer 9 is out of range"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear error: {stderr}");
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}
