//! The process that runs guest code never needs, nor opens, `heldout/`.

use crate::helpers::{copy_dir, default_task, eval_default, plugin, read_json, run, w2s};

#[test]
fn the_guest_process_runs_without_heldout_and_the_scorer_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let public_only = dir.path().join("public-only");
    copy_dir(&default_task(), &public_only);
    std::fs::remove_dir_all(public_only.join("heldout")).unwrap();
    let _ = std::fs::remove_dir_all(public_only.join("cache"));

    // The sandboxed phase, seeds and controls included, succeeds on the
    // public part alone.
    let run_dir = dir.path().join("run");
    let (out, stdout, stderr) = run(w2s()
        .arg("run")
        .arg(plugin("vanilla"))
        .arg("--task")
        .arg(&public_only)
        .args(["--seed", "7", "--seed", "8", "--controls", "--out"])
        .arg(&run_dir));
    assert!(
        out.status.success(),
        "run without heldout failed:\n{stdout}\n{stderr}"
    );
    for name in [
        "student-0",
        "student-1",
        "control-permuted-labels-1",
        "control-class-prior-0",
    ] {
        assert!(
            run_dir.join(format!("{name}.safetensors")).exists(),
            "{name}"
        );
    }
    let run_report = read_json(&run_dir.join("run.json"));
    assert!(run_report["score"].is_null());

    // The scorer, in its own process with the full bundle, scores those
    // students exactly as `eval` scores the same runs.
    let (out, stdout, stderr) = run(w2s()
        .arg("score")
        .arg("--task")
        .arg(default_task())
        .arg("--checkpoint")
        .arg(run_dir.join("student-0.safetensors"))
        .arg("--checkpoint")
        .arg(run_dir.join("student-1.safetensors")));
    assert!(out.status.success(), "score failed: {stderr}");
    let scored: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let (report, _) = eval_default("vanilla", &["--seed", "7", "--seed", "8"]);
    for i in 0..2 {
        for part in ["public", "private"] {
            assert_eq!(
                report["score"][part]["per_seed"][i]["student_acc"],
                scored["students"][i][part]["student_acc"]
            );
        }
    }

    // Scoring needs the held-out part, and says so.
    let (out, _, stderr) = run(w2s()
        .arg("score")
        .arg("--task")
        .arg(&public_only)
        .arg("--checkpoint")
        .arg(run_dir.join("student-0.safetensors")));
    assert!(!out.status.success());
    assert!(stderr.contains("heldout/"), "{stderr}");
}
