//! `w2s eval --suite`: PGR on tasks the strategy was not developed on, per
//! task and in the worst case.

use crate::helpers::{default_task, plugin, read_json, run, w2s};

#[test]
fn the_default_suite_reports_each_task_and_the_worst() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("suite.json");
    let (out, stdout, stderr) = run(w2s()
        .arg("eval")
        .arg(plugin("vanilla"))
        .args(["--suite", "--seeds", "1", "--suite-dir"])
        .arg(dir.path().join("tasks"))
        .arg("--json")
        .arg(&json));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let r = read_json(&json);
    assert_eq!(r["kind"], "suite");
    let summary = r["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 5);
    assert_eq!(r["reports"].as_array().unwrap().len(), 5);
    let default_hash = read_json_task_hash(&default_task());
    let mut hashes: Vec<&str> = summary
        .iter()
        .map(|t| t["hash"].as_str().unwrap())
        .collect();
    assert!(
        !hashes.contains(&default_hash.as_str()),
        "the suite must not contain the default task"
    );
    hashes.dedup();
    assert_eq!(hashes.len(), 5);
    let privates: Vec<f64> = summary
        .iter()
        .map(|t| t["private_pgr"].as_f64().unwrap())
        .collect();
    let min = privates.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(r["worst"]["private"][1].as_f64().unwrap(), min);
    for t in summary {
        assert!(stdout.contains(t["task"].as_str().unwrap()), "{stdout}");
    }
    assert!(stdout.contains("worst"), "{stdout}");
    // Each task gets its own host-chosen seeds.
    let seeds: Vec<&serde_json::Value> = r["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["seeds"]["values"][0])
        .collect();
    assert_ne!(seeds[0], seeds[1]);

    // The suite report replays bit for bit, task by task.
    let (out, stdout, stderr) = run(w2s()
        .arg("replay")
        .arg(&json)
        .arg("--wasm")
        .arg(plugin("vanilla"))
        .arg("--suite-dir")
        .arg(dir.path().join("tasks")));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "identical");
}

fn read_json_task_hash(task: &std::path::Path) -> String {
    let (out, stdout, _) = run(w2s().args(["task", "check"]).arg(task));
    assert!(out.status.success());
    let start = stdout.find("task hash ").unwrap() + "task hash ".len();
    stdout[start..start + 64].to_owned()
}

#[test]
fn a_suite_task_from_another_config_is_refused_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let suite = |noise: &str| {
        let path = dir.path().join(format!("suite-{noise}.toml"));
        let text = format!(
            "version = 1\nname = \"tiny\"\n[[tasks]]\nname = \"t1\"\nseed = 7\nweak_noise = {noise}\npool = 600\ntest = 600\nteacher_train = 400\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let eval = |file: &std::path::Path| {
        run(w2s()
            .arg("eval")
            .arg(plugin("vanilla"))
            .args(["--suite", "--seeds", "1", "--suite-file"])
            .arg(file)
            .arg("--suite-dir")
            .arg(dir.path().join("tasks")))
    };
    let (out, stdout, stderr) = eval(&suite("0.8"));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("t1"), "{stdout}");
    let (out, _, stderr) = eval(&suite("1.1"));
    crate::helpers::assert_clean_error(&out, &stderr, "generated from another config");
}
