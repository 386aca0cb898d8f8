//! The main job: `w2s eval` of `plugins/vanilla` on the default task.

use crate::helpers::{default_task, eval_default, eval_report, plugin, strip_volatile};

#[test]
fn vanilla_on_the_default_task_recovers_part_of_the_gap() {
    let (report, table) = eval_default("vanilla", &[]);
    // Five host-chosen seeds by default, each a completed run.
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    assert!(runs.iter().all(|r| r["outcome"]["code"] == "completed"));
    assert!(
        runs.iter()
            .all(|r| !r["metrics"].as_array().unwrap().is_empty()),
        "vanilla logs its training loss"
    );
    for part in ["public", "private"] {
        let s = &report["score"][part];
        let (weak, ceiling) = (
            s["weak_acc"].as_f64().unwrap(),
            s["ceiling_acc"].as_f64().unwrap(),
        );
        // The acceptance bar for the default task, on each part.
        assert!(
            ceiling - weak >= 0.15,
            "{part}: gap too small: weak {weak}, ceiling {ceiling}"
        );
        let pgr = &s["pgr"];
        let mean = pgr["mean"].as_f64().unwrap();
        assert!(
            mean > 0.0 && mean < 1.0,
            "{part}: PGR {mean} outside (0, 1)"
        );
        assert_eq!(pgr["n"], 5);
        let [lo, hi] = [
            pgr["ci95"][0].as_f64().unwrap(),
            pgr["ci95"][1].as_f64().unwrap(),
        ];
        assert!(lo < mean && mean < hi);
        assert_eq!(s["per_seed"].as_array().unwrap().len(), 5);
        assert!(s["size"].as_u64().unwrap() > 1000);
    }
    let b = &report["score"]["baselines"];
    assert_eq!(b["weak"]["n"], 1);
    assert_eq!(b["ceiling"]["seeds"].as_array().unwrap().len(), 5);
    assert_eq!(b["ceiling"]["private"]["summary"]["n"], 5);
    // Provenance.
    assert_eq!(report["wasm"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["task"]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(report["policy"]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        report["policy"]["effective"]["guest"]["fuel"]
            .as_u64()
            .unwrap()
            > 0
    );
    for v in ["w2s", "scorer", "wasmtime", "candle"] {
        assert!(report["versions"][v].is_string(), "versions.{v}");
    }
    assert_eq!(report["seeds"]["source"], "secret");
    assert_eq!(report["rankable"]["value"], true);
    assert_eq!(report["flags"], serde_json::json!([]));
    assert!(
        runs.iter()
            .all(|r| r["usage"]["flops"].as_u64().unwrap() > 0)
    );
    // People see figures rounded to 0.01, never more.
    assert!(table.contains("private PGR"), "{table}");
    assert!(!table.contains(&format!(
        "{:.4}",
        report["score"]["private"]["pgr"]["mean"].as_f64().unwrap()
    )));
}

#[test]
fn the_same_submission_twice_gets_identical_reports() {
    let (mut a, _) = eval_default("vanilla", &[]);
    let (mut b, _) = eval_default("vanilla", &[]);
    // Only wall-clock timings and the baseline cache status may differ.
    strip_volatile(&mut a);
    strip_volatile(&mut b);
    assert_eq!(a, b);
}

#[test]
fn a_hand_edited_baseline_cache_is_recomputed_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join("task");
    crate::helpers::copy_dir(&default_task(), &task);
    let vanilla = plugin("vanilla");
    let eval = |name: &str| eval_report(&vanilla, &task, dir.path(), name, &["--seeds", "1"]).0;
    let first = eval("first.json");
    let cache = task.join("cache/baselines.json");
    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    // Inflate the ceiling, as a submitter who can write the bundle might.
    let mut forged = entry.clone();
    forged["baselines"]["private"]["ceiling_accs"] = serde_json::json!([1.0, 1.0, 1.0, 1.0, 1.0]);
    std::fs::write(&cache, serde_json::to_string(&forged).unwrap()).unwrap();
    let second = eval("second.json");
    let status = &second["score"]["baselines"]["cache"];
    assert_eq!(status["status"], "recomputed", "{status}");
    assert!(status["reason"].as_str().unwrap().contains("checksum"));
    assert_eq!(
        second["score"]["private"]["ceiling_acc"],
        first["score"]["private"]["ceiling_acc"]
    );
    // And the recomputed entry is trusted again afterwards.
    let third = eval("third.json");
    assert_eq!(third["score"]["baselines"]["cache"]["status"], "hit");
}

/// `plugins/tensor-demo` trains through the `tensor` interface (tracked
/// forward, a loss from tensor ops, backward-step) and completes with a
/// finite PGR; the audit summary shows the new calls.
#[test]
fn tensor_demo_trains_with_forward_and_backward_step() {
    let (report, _) = eval_default("tensor_demo", &["--seeds", "1", "--config", "epochs=2"]);
    let runs = report["runs"].as_array().unwrap();
    assert!(
        runs.iter().all(|r| r["outcome"]["code"] == "completed"),
        "{runs:?}"
    );
    let calls = &runs[0]["audit"]["calls"];
    assert!(
        calls["w2s:strategy/student.[method]student.backward-step"]
            .as_u64()
            .unwrap()
            > 0,
        "{calls}"
    );
    let pgr = report["score"]["public"]["pgr"]["mean"].as_f64().unwrap();
    assert!(pgr.is_finite(), "PGR {pgr}");
}
