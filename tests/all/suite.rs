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

/// Issue 18, item 7a: a ranking suite (`--secret-task-seeds`, what the
/// service runs) generates its tasks under seeds derived from the
/// evaluator's secret, so the suite file's public seeds do not regenerate
/// them; the report records the listed seed and a marker, never the
/// derived seed, and still replays with the secret.
#[test]
fn secret_task_seeds_give_other_tasks_and_stay_out_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    std::fs::write(
        &file,
        "version = 1\nname = \"tiny\"\n[[tasks]]\nname = \"t1\"\nseed = 7\npool = 600\ntest = 600\nteacher_train = 400\n",
    )
    .unwrap();
    let secret =
        w2s_eval::seeds::Secret::load_or_create(&crate::helpers::workdir().join(".w2s/secret"))
            .unwrap();
    let derived = secret.task_seed("suite/tiny/t1/7").to_string();
    let eval = |tasks: &str, json: &str, extra: &[&str]| {
        run(w2s()
            .arg("eval")
            .arg(plugin("vanilla"))
            .args(["--suite", "--seeds", "1", "--suite-file"])
            .arg(&file)
            .arg("--suite-dir")
            .arg(dir.path().join(tasks))
            .arg("--json")
            .arg(dir.path().join(json))
            .args(extra))
    };
    let (out, stdout, stderr) = eval("public", "public.json", &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let (out, stdout, stderr) = eval("secret", "secret.json", &["--secret-task-seeds"]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(&derived) && !stderr.contains(&derived));
    let public = read_json(&dir.path().join("public.json"));
    let text = std::fs::read_to_string(dir.path().join("secret.json")).unwrap();
    assert!(
        !text.contains(&derived),
        "the report holds the derived seed"
    );
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_ne!(r["summary"][0]["hash"], public["summary"][0]["hash"]);
    assert_eq!(r["suite"]["task_seeds"], "secret");
    assert_eq!(r["suite"]["tasks"][0]["seed"], 7);
    assert!(public["suite"].get("task_seeds").is_none());

    // The public task's directory is refused, naming no seed.
    let (out, _, stderr) = eval("public", "x.json", &["--secret-task-seeds"]);
    crate::helpers::assert_clean_error(&out, &stderr, "generated from another config");
    assert!(!stderr.contains(&derived), "{stderr}");

    // The report replays with the secret, and is refused without it.
    let replay = |secret: &std::path::Path| {
        run(w2s()
            .arg("replay")
            .arg(dir.path().join("secret.json"))
            .arg("--wasm")
            .arg(plugin("vanilla"))
            .arg("--suite-dir")
            .arg(dir.path().join("secret"))
            .arg("--secret-file")
            .arg(secret))
    };
    let (out, _, stderr) = replay(&dir.path().join("no-secret"));
    crate::helpers::assert_clean_error(&out, &stderr, "no secret at");
    let (out, stdout, stderr) = replay(&crate::helpers::workdir().join(".w2s/secret"));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "identical");
}
