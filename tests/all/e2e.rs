//! The main job: `w2s eval` of `plugins/vanilla` on the default task.

use crate::helpers::{default_task, plugin, read_json, run, w2s};

fn eval_json(task: &std::path::Path, dir: &std::path::Path, name: &str) -> serde_json::Value {
    let json = dir.join(name);
    let (out, stdout, stderr) = run(w2s()
        .arg("eval")
        .arg(plugin("vanilla"))
        .arg("--task")
        .arg(task)
        .arg("--json")
        .arg(&json));
    assert!(out.status.success(), "eval failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("PGR"), "{stdout}");
    read_json(&json)
}

#[test]
fn vanilla_on_the_default_task_recovers_part_of_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let report = eval_json(&default_task(), dir.path(), "report.json");
    assert_eq!(report["outcome"]["code"], "completed");
    let score = &report["score"];
    let (weak, ceiling, pgr) = (
        score["weak_acc"].as_f64().unwrap(),
        score["ceiling_acc"].as_f64().unwrap(),
        score["pgr"].as_f64().unwrap(),
    );
    // The acceptance bar for the default task.
    assert!(
        ceiling - weak >= 0.15,
        "gap too small: weak {weak}, ceiling {ceiling}"
    );
    assert!(pgr > 0.0 && pgr < 1.0, "PGR {pgr} outside (0, 1)");
    assert_eq!(score["ceiling_accs"].as_array().unwrap().len(), 5);
    // Provenance.
    assert_eq!(report["wasm"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["task"]["hash"].as_str().unwrap().len(), 64);
    assert!(report["usage"]["flops"].as_u64().unwrap() > 0);
    assert!(report["usage"]["fuel_consumed"].as_u64().unwrap() > 0);
    assert!(
        !report["metrics"].as_array().unwrap().is_empty(),
        "vanilla logs its training loss"
    );
}

#[test]
fn same_wasm_task_and_seed_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = eval_json(&default_task(), dir.path(), "a.json");
    let mut b = eval_json(&default_task(), dir.path(), "b.json");
    // Only wall-clock timings may differ; the baseline cache goes from
    // computed to hit (or stays hit) between the two runs.
    for r in [&mut a, &mut b] {
        r.as_object_mut().unwrap().remove("timing");
        r["usage"].as_object_mut().unwrap().remove("wall_time");
        r["score"].as_object_mut().unwrap().remove("baseline_cache");
    }
    assert_eq!(a, b);
}

#[test]
fn a_hand_edited_baseline_cache_is_recomputed_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join("task");
    crate::helpers::copy_dir(&default_task(), &task);
    let first = eval_json(&task, dir.path(), "first.json");
    let cache = task.join("cache/baselines.json");
    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    // Inflate the ceiling, as a submitter who can write the bundle might.
    let mut forged = entry.clone();
    forged["baselines"]["ceiling_accs"] = serde_json::json!([1.0, 1.0, 1.0, 1.0, 1.0]);
    std::fs::write(&cache, serde_json::to_string(&forged).unwrap()).unwrap();
    let second = eval_json(&task, dir.path(), "second.json");
    assert_eq!(
        second["score"]["baseline_cache"]["status"], "recomputed",
        "{}",
        second["score"]
    );
    assert!(
        second["score"]["baseline_cache"]["reason"]
            .as_str()
            .unwrap()
            .contains("checksum")
    );
    assert_eq!(
        second["score"]["ceiling_acc"],
        first["score"]["ceiling_acc"]
    );
    // And the recomputed entry is trusted again afterwards.
    let third = eval_json(&task, dir.path(), "third.json");
    assert_eq!(
        third["score"]["baseline_cache"]["status"], "hit",
        "{}",
        third["score"]
    );
}
