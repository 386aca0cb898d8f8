//! The process that runs guest code never needs, nor opens, `heldout/`.

use crate::helpers::{copy_dir, default_task, plugin, read_json, run, w2s};

#[test]
fn the_guest_process_runs_without_heldout_and_the_scorer_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let public_only = dir.path().join("public-only");
    copy_dir(&default_task(), &public_only);
    std::fs::remove_dir_all(public_only.join("heldout")).unwrap();
    let _ = std::fs::remove_dir_all(public_only.join("cache"));

    // The sandboxed run succeeds on the public part alone.
    let run_dir = dir.path().join("run");
    let (out, stdout, stderr) = run(w2s()
        .arg("run")
        .arg(plugin("vanilla"))
        .arg("--task")
        .arg(&public_only)
        .args(["--seed", "7", "--out"])
        .arg(&run_dir));
    assert!(
        out.status.success(),
        "run without heldout failed:\n{stdout}\n{stderr}"
    );
    let checkpoint = run_dir.join("student.safetensors");
    assert!(checkpoint.exists());

    // The scorer, in its own process with the full bundle, scores that
    // student exactly as `eval` scores the same run.
    let (out, stdout, stderr) = run(w2s()
        .arg("score")
        .arg("--task")
        .arg(default_task())
        .arg("--checkpoint")
        .arg(&checkpoint));
    assert!(out.status.success(), "score failed: {stderr}");
    let scored: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let json = dir.path().join("eval.json");
    let (out, _, stderr) = run(w2s()
        .arg("eval")
        .arg(plugin("vanilla"))
        .arg("--task")
        .arg(default_task())
        .args(["--seed", "7", "--json"])
        .arg(&json));
    assert!(out.status.success(), "eval failed: {stderr}");
    assert_eq!(
        read_json(&json)["score"]["student_acc"],
        scored["student_acc"]
    );

    // Scoring needs the held-out part, and says so.
    let (out, _, stderr) = run(w2s()
        .arg("score")
        .arg("--task")
        .arg(&public_only)
        .arg("--checkpoint")
        .arg(&checkpoint));
    assert!(!out.status.success());
    assert!(stderr.contains("heldout/"), "{stderr}");
}
