//! `w2s replay` reproduces a report bit for bit, names the first field that
//! differs, and refuses another wasm, task or tampered seeds.

use std::path::Path;

use crate::helpers::{assert_clean_error, default_task, eval_report, plugin, run, w2s};

fn replay(report: &Path, wasm: &Path, task: &Path) -> (std::process::Output, String, String) {
    run(w2s()
        .arg("replay")
        .arg(report)
        .arg("--wasm")
        .arg(wasm)
        .arg("--task")
        .arg(task))
}

#[test]
fn replay_reproduces_a_report_bit_for_bit_and_names_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--seeds", "2", "--controls", "--config", "epochs=10"];
    eval_report(
        &plugin("vanilla"),
        &default_task(),
        dir.path(),
        "r.json",
        &args,
    );
    let report = dir.path().join("r.json");
    // Under another file name: the same bytes are the same submission.
    let copy = dir.path().join("renamed.wasm");
    std::fs::copy(plugin("vanilla"), &copy).unwrap();
    let (out, stdout, stderr) = replay(&report, &copy, &default_task());
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "identical");
    assert!(
        stderr.contains("seeds verified against the evaluator's secret"),
        "{stderr}"
    );

    // One private figure changed by one ulp: named, exit status 3.
    let mut edited: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let mean = edited["score"]["private"]["pgr"]["mean"].as_f64().unwrap();
    edited["score"]["private"]["pgr"]["mean"] =
        serde_json::json!(f64::from_bits(mean.to_bits() + 1));
    let edited_path = dir.path().join("edited.json");
    std::fs::write(&edited_path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let (out, stdout, _) = replay(&edited_path, &plugin("vanilla"), &default_task());
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with("differs at score.private.pgr.mean: report has"),
        "{stdout}"
    );
}

#[test]
fn replay_refuses_another_wasm_another_task_or_edited_seeds() {
    let dir = tempfile::tempdir().unwrap();
    eval_report(
        &plugin("vanilla"),
        &default_task(),
        dir.path(),
        "r.json",
        &["--seeds", "1"],
    );
    let report = dir.path().join("r.json");

    let (out, _, stderr) = replay(&report, &plugin("prior_only"), &default_task());
    assert_clean_error(&out, &stderr, "wasm sha256 differs");

    let other = dir.path().join("other-task");
    let (o, _, e) = run(w2s()
        .args(["task", "synth", "--seed", "1", "--out"])
        .arg(&other));
    assert!(o.status.success(), "{e}");
    let (out, _, stderr) = replay(&report, &plugin("vanilla"), &other);
    assert_clean_error(&out, &stderr, "task hash differs");

    // Seeds that the committed secret does not derive: the report was edited.
    let mut edited: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    edited["seeds"]["values"][0] = serde_json::json!(12345);
    let edited_path = dir.path().join("edited.json");
    std::fs::write(&edited_path, serde_json::to_string(&edited).unwrap()).unwrap();
    let (out, _, stderr) = replay(&edited_path, &plugin("vanilla"), &default_task());
    assert_clean_error(&out, &stderr, "the report was edited");
}
