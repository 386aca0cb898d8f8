//! `w2s mcp` driven over stdio by a real MCP client: the official Python
//! SDK (PyPI `mcp`, pinned in scripts/setup-mcp.sh, in its own venv under
//! `.w2s/`), running `tests/mcp/driver.py`.
//!
//! Local mode: initialize, list the tools, new_strategy -> build_strategy
//! (an offline cargo build of the generated crate) -> evaluate on the
//! default task with progress notifications, then bad input of every kind,
//! each a tool error naming the problem while the server keeps serving.
//! Remote mode, against a real `w2s serve`: every tool, a token whose
//! quota is spent, and the leak check: no figure of the full report's
//! `score` section (private or exact public), no seed, no token and no
//! secret appears in any tool result.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, copy_dir, default_task, plugin, repo, run};
use crate::service_client::{Site, get};

/// The venv's python with the pinned `mcp` SDK (installed on first use).
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let (out, stdout, stderr) = run(&mut Command::new(repo().join("scripts/setup-mcp.sh")));
        assert!(
            out.status.success(),
            "scripts/setup-mcp.sh failed: {stderr}"
        );
        PathBuf::from(stdout.trim())
    })
}

/// Runs the driver with `config` (plus `w2s` and `log`); asserts that it
/// passed and returns every tool result it logged.
fn drive(dir: &Path, mut config: Value) -> Vec<Value> {
    let log = dir.join("results.jsonl");
    config["w2s"] = json!(env!("CARGO_BIN_EXE_w2s"));
    config["log"] = json!(log);
    let file = dir.join("driver.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let (out, stdout, stderr) = run(Command::new(python())
        .arg(repo().join("tests/mcp/driver.py"))
        .arg(&file));
    assert!(
        out.status.success(),
        "the MCP driver failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("scenario passed"), "{stdout}");
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A working directory with the tests' evaluator secret and the default
/// task under `tasks/`.
fn local_site(dir: &Path) -> PathBuf {
    let cwd = dir.join("work");
    std::fs::create_dir_all(cwd.join(".w2s")).unwrap();
    std::fs::write(cwd.join(".w2s/secret"), TEST_SECRET).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(cwd.join(".w2s/secret"), mode).unwrap();
    }
    copy_dir(&default_task(), &cwd.join("tasks/default"));
    cwd
}

/// Asserts that none of `needles` occurs in the logged results.
fn assert_absent(results: &[Value], needles: &[String]) {
    for r in results {
        let text = r.to_string();
        for n in needles {
            assert!(
                !text.contains(n.as_str()),
                "{n:?} leaked into a result of {}: {text}",
                r["tool"]
            );
        }
    }
}

/// Secrets every result must be free of: the evaluator's secret, raw and
/// as hex.
fn secret_needles() -> Vec<String> {
    vec![
        String::from_utf8_lossy(TEST_SECRET).into_owned(),
        hex::encode(TEST_SECRET),
    ]
}

#[test]
fn mcp_local_research_loop_over_stdio() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = local_site(tmp.path());
    let parent = tmp.path().join("projects");
    std::fs::create_dir_all(&parent).unwrap();
    let results = drive(
        tmp.path(),
        json!({
            "mode": "local", "cwd": cwd, "parent": parent,
            "args": ["--tasks", cwd.join("tasks"), "--seeds", "1"],
        }),
    );
    assert_absent(&results, &secret_needles());
    let evaluate = results
        .iter()
        .find(|r| r["tool"] == "evaluate" && r["is_error"] == false)
        .expect("an evaluation succeeded");
    let feedback = evaluate["structured"]["feedback"].as_object().unwrap();
    for key in feedback.keys() {
        assert!(
            !key.contains("private") && !key.contains("acc"),
            "feedback key {key}"
        );
    }
}

/// Every float of the full report's `score` section with more digits than
/// the feedback's 0.01 resolution, as JSON writes it.
fn exact_figures(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let text = n.to_string();
            if text.len() > 6 {
                out.push(text);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exact_figures(v, out)),
        Value::Object(map) => map.values().for_each(|v| exact_figures(v, out)),
        _ => {}
    }
}

#[test]
fn mcp_remote_mode_calls_every_tool_and_leaks_no_private_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let site = Site::new(None);
    let server = site.serve(1, &[]);
    let token = site.token("agent", &["--quota-per-day", "1"]);
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let parent = tmp.path().join("projects");
    std::fs::create_dir_all(&parent).unwrap();
    let results = drive(
        tmp.path(),
        json!({
            "mode": "remote", "cwd": tmp.path(), "parent": parent,
            "wasm": plugin("vanilla"),
            "args": ["--server", format!("http://{}", server.addr), "--token-file", token_file],
        }),
    );
    let called: std::collections::BTreeSet<&str> =
        results.iter().filter_map(|r| r["tool"].as_str()).collect();
    let every = [
        "list_methods",
        "task_card",
        "explain_policy",
        "new_strategy",
        "build_strategy",
        "evaluate",
        "submit",
        "status",
        "report",
        "leaderboard",
    ];
    assert_eq!(called, every.into_iter().collect(), "tools called");

    // The evaluator's full record of the evaluation the agent ran.
    let evaluate = results
        .iter()
        .find(|r| r["tool"] == "evaluate" && r["is_error"] == false)
        .unwrap();
    let id = evaluate["structured"]["submission_id"].as_str().unwrap();
    let report = get(&server.addr, &format!("/v1/submissions/{id}/report")).json();
    let mut needles = secret_needles();
    needles.push(token.trim().to_owned());
    exact_figures(&report["score"], &mut needles);
    assert!(
        needles.len() > 4,
        "the report's score has exact figures to look for: {}",
        report["score"]
    );
    for seed in report["seeds"]["values"].as_array().unwrap() {
        needles.push(seed.to_string());
    }
    assert_absent(&results, &needles);
}

#[test]
fn w2s_new_writes_a_project_and_refuses_to_overwrite_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-boot");
    let (out, stdout, stderr) = run(crate::helpers::w2s()
        .arg("new")
        .arg(&dir)
        .args(["--from", "bootstrap"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("cargo build --release --offline"),
        "{stdout}"
    );
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    let original = std::fs::read_to_string(repo().join("plugins/bootstrap/src/lib.rs")).unwrap();
    assert_eq!(lib, original, "--from copies the method's sources");
    let (out, _, stderr) = run(crate::helpers::w2s().arg("new").arg(&dir));
    crate::helpers::assert_clean_error(&out, &stderr, "already exists");
    let (out, _, stderr) = run(crate::helpers::w2s()
        .arg("new")
        .arg(tmp.path().join("x"))
        .args(["--lang", "cobol"]));
    assert!(
        !out.status.success() && stderr.contains("cobol"),
        "{stderr}"
    );
}

/// A Python project of `w2s new` builds with `w2s guest build` as its
/// README says (its own SDK copy, componentize-py from
/// scripts/setup-python.sh) and evaluates on the default task.
#[test]
fn w2s_new_python_project_builds_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("py-strat");
    let (out, _, stderr) = run(crate::helpers::w2s()
        .arg("new")
        .arg(&dir)
        .args(["--lang", "python"]));
    assert!(out.status.success(), "{stderr}");
    let (out, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_w2s"))
        .current_dir(&dir)
        .args(["guest", "build", "py_strat.py", "-o", "py-strat.wasm"])
        .args(["--sdk-dir", "w2s-sdk/python", "--wit-dir", "w2s-sdk/wit"]));
    assert!(out.status.success(), "w2s guest build:\n{stdout}\n{stderr}");
    let wasm = dir.join("py-strat.wasm");
    // Compiled ahead into the tests' cache (a cold compile of CPython can
    // outlast the default compile deadline on two busy cores).
    crate::helpers::load_cached(
        &w2s_host::Sandbox::new(w2s_host::Policy::default()).unwrap(),
        &wasm,
    );
    let (out, stdout, stderr) = run(crate::helpers::w2s()
        .arg("eval")
        .arg(&wasm)
        .arg("--task")
        .arg(default_task())
        .args(["--seeds", "1", "--config", "epochs=1", "--feedback-only"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("public PGR"), "{stdout}");
}
