//! `lm-lora` end to end on CPU: `w2s task build` on a tiny random Qwen2
//! (strong) and Llama (weak) with a small generated AAR chat dataset, then
//! `w2s eval plugins/lora-vanilla` under `examples/policies/lora.toml`:
//! the strategy fine-tunes the strong model with LoRA in the sandbox, and
//! the scorer process loads the adapters, runs the tokenized test split
//! and scores them against a LoRA ceiling trained on ground truth.

use std::path::Path;

use w2s_lm::Family;
use w2s_lm::random_model::RandomModel;

use crate::helpers::{eval_report, plugin, repo, run, task_build, w2s};

/// The recipe of both the student and the ceiling: small and fast, with a
/// learning rate a tiny random model moves under.
const RECIPE: &str = "rank=4,alpha=8,lr=0.005,epochs=6,batch=16";

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
            r#"{{"prompt":"q{}","first":"it is {word}","second":"ok","label":"{label}","subset":"{subset}"}}"#,
            i % 13
        )
    };
    let lines = |r: std::ops::Range<usize>| r.map(row).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.join("train_label.jsonl"), lines(0..40)).unwrap();
    std::fs::write(dir.join("train_unlabel.jsonl"), lines(40..136)).unwrap();
    std::fs::write(dir.join("test.jsonl"), lines(136..200)).unwrap();
}

fn build_task(d: &Path) -> std::path::PathBuf {
    RandomModel::tiny(Family::Qwen2)
        .write(&d.join("strong"), 11)
        .unwrap();
    RandomModel::tiny(Family::Llama)
        .write(&d.join("weak"), 12)
        .unwrap();
    write_chat(&d.join("chat"));
    let task = d.join("task");
    task_build(
        "aar-chat",
        &d.join("chat"),
        [&d.join("strong"), &d.join("weak")],
        &[
            "--layer",
            "2",
            "--weak-layer",
            "0",
            "--no-cache",
            "--lora-ceiling",
            RECIPE,
        ],
        &task,
    );
    task
}

#[test]
fn lora_vanilla_trains_the_strong_model_and_is_scored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let task = build_task(d);
    let manifest = std::fs::read_to_string(task.join("task.toml")).unwrap();
    assert!(manifest.contains("[lm]"), "{manifest}");
    assert!(manifest.contains("label_tokens = ["), "{manifest}");
    assert!(task.join("public/pool_tokens.safetensors").exists());
    assert!(task.join("heldout/test_tokens.safetensors").exists());

    let policy = repo().join("examples/policies/lora.toml");
    let config = RECIPE.to_owned();
    let args = [
        "--seeds",
        "2",
        "--policy",
        policy.to_str().unwrap(),
        "--config",
        &config,
    ];
    let (report, table) = eval_report(&plugin("lora_vanilla"), &task, d, "r.json", &args);
    let score = &report["score"];
    assert!(score["private"]["pgr"]["mean"].is_number(), "{score}");
    let arch = report.to_string();
    assert!(arch.contains("lm-lora(r=4, alpha=8, rslora"), "{table}");
    assert!(table.contains("runs  2/2 completed"), "{table}");
    // The same wasm, task, policy and seeds give the same figures (the
    // second evaluation reads the LoRA ceiling from the cache).
    assert_eq!(score["baselines"]["cache"]["status"], "miss");
    let (again, _) = eval_report(&plugin("lora_vanilla"), &task, d, "r2.json", &args);
    let mut a = report["score"].clone();
    let mut b = again["score"].clone();
    assert_eq!(b["baselines"]["cache"]["status"], "hit");
    a["baselines"]["cache"] = serde_json::Value::Null;
    b["baselines"]["cache"] = serde_json::Value::Null;
    assert_eq!(a, b, "lm-lora runs are deterministic");
    // The LoRA ceiling learned the task; the weak teacher did not.
    let private = &score["private"];
    assert!(
        private["ceiling_acc"].as_f64().unwrap() > private["weak_acc"].as_f64().unwrap(),
        "{private}"
    );
}

#[test]
fn lora_students_are_refused_under_the_default_policy() {
    let dir = tempfile::tempdir().unwrap();
    let task = build_task(dir.path());
    let (out, stdout, stderr) = run(w2s()
        .arg("eval")
        .arg(plugin("lora_vanilla"))
        .arg("--task")
        .arg(&task)
        .args(["--seeds", "1"]));
    assert!(!out.status.success());
    // The default policy does not even allow the `lm` interface: the
    // component is refused when it is loaded.
    assert!(
        stderr.contains("imports `w2s:strategy/lm@0.1.0`, which the policy does not allow"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn a_changed_strong_model_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let task = build_task(dir.path());
    // Another model's weights in the same directory.
    RandomModel::tiny(Family::Qwen2)
        .write(&dir.path().join("strong"), 99)
        .unwrap();
    let policy = repo().join("examples/policies/lora.toml");
    let (out, stdout, stderr) = run(w2s()
        .arg("eval")
        .arg(plugin("lora_vanilla"))
        .arg("--task")
        .arg(&task)
        .arg("--policy")
        .arg(&policy)
        .args(["--seeds", "1"]));
    assert!(!out.status.success());
    assert!(
        stderr.contains("strong model: sha256 mismatch for model.safetensors"),
        "{stdout}\n{stderr}"
    );
}
