//! Public and private parts of the test split, and the coarse feedback a
//! submitter sees.

use crate::helpers::{default_task, plugin, read_json, run, w2s};

#[test]
fn feedback_shows_only_coarse_public_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (full, fb) = (
        dir.path().join("full.json"),
        dir.path().join("feedback.json"),
    );
    let (out, stdout, stderr) = run(w2s()
        .arg("eval")
        .arg(plugin("vanilla"))
        .arg("--task")
        .arg(default_task())
        .args(["--seeds", "2", "--feedback-only", "--json"])
        .arg(&full)
        .arg("--feedback-json")
        .arg(&fb));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // What the submitter sees: public PGR, two decimals, nothing private.
    assert!(stdout.contains("public PGR"), "{stdout}");
    for hidden in ["private", "student_acc", "weak_acc", "ceiling", "ranking"] {
        assert!(
            !stdout.contains(hidden),
            "feedback shows {hidden}: {stdout}"
        );
    }
    for token in stdout.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',') {
        if let Some((_, decimals)) = token.split_once('.')
            && token.parse::<f64>().is_ok()
        {
            assert!(decimals.len() <= 2, "{token} in {stdout}");
        }
    }
    let report = read_json(&full);
    let feedback = read_json(&fb);
    assert_eq!(feedback, report["feedback"]);
    let exact = report["score"]["public"]["pgr"]["mean"].as_f64().unwrap();
    assert_eq!(
        feedback["public_pgr"].as_f64().unwrap(),
        (exact * 100.0).round() / 100.0
    );
    let keys: Vec<&str> = feedback
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.iter()
            .all(|k| !k.contains("private") && !k.contains("acc")),
        "{keys:?}"
    );

    // The full report marks which figure is which.
    assert!(
        report["score"]["public"]["role"]
            .as_str()
            .unwrap()
            .starts_with("development")
    );
    assert!(
        report["score"]["private"]["role"]
            .as_str()
            .unwrap()
            .starts_with("ranking")
    );
    let split = &report["score"]["split"];
    let (public, private) = (
        split["public_size"].as_u64().unwrap(),
        split["private_size"].as_u64().unwrap(),
    );
    assert_eq!(public + private, 3000);
    assert!((1350..=1650).contains(&public), "{public}");
    assert!(split["rule"].as_str().unwrap().starts_with("split-v1"));
}
