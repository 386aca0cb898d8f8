//! `eval` and `run` under a policy: the report carries it, refused
//! components are outcomes, the audit log, the compiled-artifact cache, and
//! the compile limits.

use std::path::{Path, PathBuf};

use serde_json::Value;
use w2s_policy::Policy;

use crate::helpers::{
    assert_clean_error, default_task, plugin, read_json, repo, run, run_on_default_task, w2s,
};

fn example(name: &str) -> PathBuf {
    repo().join("examples/policies").join(name)
}

/// `w2s run` of `wasm` with seed 7 and `extra` arguments; returns the exit
/// code, stderr and `run.json`.
fn run_json(dir: &Path, wasm: &Path, extra: &[&str]) -> (Option<i32>, String, Value) {
    let out = dir.join("out");
    let args = [&["--seed", "7"], extra].concat();
    let (o, _, stderr) = run_on_default_task(wasm, &out, &dir.join("cache"), &args);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (o.status.code(), stderr, read_json(&out.join("run.json")))
}

/// A report without what may differ between identical runs.
fn stable(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("timing");
    v
}

fn write_policy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn write_wat(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

#[test]
fn the_report_carries_the_effective_policy_and_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let strict = example("strict.toml");
    let (code, stderr, report) = run_json(
        dir.path(),
        &plugin("vanilla"),
        &["--policy", strict.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["runs"][0]["outcome"]["code"], "completed");
    let policy = Policy::from_toml_str(&std::fs::read_to_string(&strict).unwrap()).unwrap();
    assert_eq!(report["policy"]["sha256"], policy.sha256());
    assert_eq!(
        report["policy"]["effective"],
        serde_json::to_value(&policy).unwrap()
    );
    assert_eq!(report["policy"]["source"], strict.display().to_string());
}

#[test]
fn no_policy_runs_exactly_as_default_toml() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let (_, _, mut a) = run_json(&a_dir, &plugin("vanilla"), &[]);
    let default = example("default.toml");
    let (_, _, mut b) = run_json(
        &b_dir,
        &plugin("vanilla"),
        &["--policy", default.to_str().unwrap()],
    );
    assert_eq!(a["policy"]["source"], "built-in default");
    for r in [&mut a, &mut b] {
        r["policy"].as_object_mut().unwrap().remove("source");
    }
    assert_eq!(stable(a), stable(b));
}

#[test]
fn a_denied_import_is_an_outcome_with_a_clear_line_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_wat(
        dir.path(),
        "net.wasm",
        r#"(component (import "wasi:sockets/tcp@0.2.6" (instance)))"#,
    );
    let json = dir.path().join("report.json");
    let (out, _, stderr) = run(w2s()
        .arg("eval")
        .arg(&wasm)
        .arg("--task")
        .arg(default_task())
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--json")
        .arg(&json));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_clean_error(
        &out,
        &stderr,
        "`wasi:sockets/tcp@0.2.6`, which the policy does not allow",
    );
    let report = read_json(&json);
    assert_eq!(report["runs"][0]["outcome"]["code"], "import-denied");
    assert_eq!(
        report["runs"][0]["outcome"]["detail"]["import"],
        "wasi:sockets/tcp@0.2.6"
    );
    assert!(report["score"].is_null());
    assert_eq!(report["wasm"]["sha256"].as_str().unwrap().len(), 64);

    // A clock import is fine by default but denied by strict.toml.
    let clock = write_wat(
        dir.path(),
        "clock.wasm",
        r#"(component (import "wasi:clocks/wall-clock@0.2.6" (instance)))"#,
    );
    let (code, _, report) = run_json(dir.path(), &clock, &[]);
    assert_eq!(
        (code, &report["runs"][0]["outcome"]["code"]),
        (Some(2), &Value::from("invalid-module"))
    );
    let strict = example("strict.toml");
    let (_, stderr, report) = run_json(dir.path(), &clock, &["--policy", strict.to_str().unwrap()]);
    assert_eq!(
        report["runs"][0]["outcome"]["code"], "import-denied",
        "{stderr}"
    );
}

#[test]
fn the_audit_log_has_a_line_per_host_call_and_the_report_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (code, stderr, report) = run_json(
        dir.path(),
        &plugin("vanilla"),
        &["--audit", audit.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let host_calls = report["runs"][0]["usage"]["host_calls"].as_u64().unwrap();
    assert_eq!(lines.len() as u64, host_calls + 1);
    for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(line["seq"], i as u64 + 1);
        assert!(line["call"].as_str().unwrap().starts_with("w2s:strategy/"));
        assert!(line["t_us"].is_u64() && line["flops"].is_u64());
    }
    let steps: Vec<&Value> = lines
        .iter()
        .filter(|l| l["call"] == "w2s:strategy/student.[method]student.train-step")
        .collect();
    assert_eq!(
        steps.len() as u64,
        report["runs"][0]["usage"]["train_steps"].as_u64().unwrap()
    );
    assert_eq!(steps[0]["args"]["targets"][1], report["task"]["classes"]);
    let mut summary = lines.last().unwrap()["summary"].clone();
    assert_eq!(summary["records_written"], host_calls);
    for k in ["records_written", "records_dropped"] {
        summary.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(summary, report["runs"][0]["audit"]);
    assert_eq!(
        report["runs"][0]["audit"]["peak_memory_bytes"],
        report["runs"][0]["usage"]["peak_memory_bytes"]
    );

    // A small cap cuts the log, says where, and keeps the summary.
    let small = write_policy(dir.path(), "version = 1\n[io]\naudit_bytes = 65536\n");
    let (_, _, report2) = run_json(
        dir.path(),
        &plugin("vanilla"),
        &[
            "--audit",
            audit.to_str().unwrap(),
            "--policy",
            small.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(text.len() <= 65536, "{} bytes", text.len());
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cut = &lines[lines.len() - 2];
    let kept = lines.len() as u64 - 2;
    assert_eq!(cut["truncated_after"], kept);
    assert_eq!(cut["records_dropped"].as_u64().unwrap() + kept, host_calls);
    assert_eq!(report2["runs"][0]["audit"], report["runs"][0]["audit"]);
}

#[test]
fn a_cache_hit_gives_the_same_report_and_a_tampered_artifact_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, first) = run_json(dir.path(), &plugin("vanilla"), &[]);
    assert_eq!(first["timing"]["compile_cache"]["status"], "miss");
    let (_, _, second) = run_json(dir.path(), &plugin("vanilla"), &[]);
    assert_eq!(second["timing"]["compile_cache"]["status"], "hit");
    assert_eq!(stable(first.clone()), stable(second));

    let artifacts: Vec<PathBuf> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1);
    let mut bytes = std::fs::read(&artifacts[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifacts[0], &bytes).unwrap();
    let (code, _, third) = run_json(dir.path(), &plugin("vanilla"), &[]);
    assert_eq!(code, Some(0));
    let cache = &third["timing"]["compile_cache"];
    assert_eq!(cache["status"], "recompiled");
    assert!(
        cache["reason"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch"),
        "{cache}"
    );
    assert_eq!(stable(first), stable(third));
    assert_ne!(
        std::fs::read(&artifacts[0]).unwrap(),
        bytes,
        "not rewritten"
    );
}

/// A component whose one function is a chain of `n` additions: cheap to
/// write, slow and hungry to compile.
fn heavy_component(dir: &Path, n: usize) -> PathBuf {
    let mut body = String::from("local.get 0\n");
    for _ in 0..n {
        body.push_str("local.get 0\ni32.add\n");
    }
    let wat =
        format!("(component (core module (func (export \"f\") (param i32) (result i32)\n{body})))");
    write_wat(dir, "heavy.wasm", &wat)
}

#[test]
fn a_compile_past_its_deadline_is_killed_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let heavy = heavy_component(dir.path(), 200_000);
    let policy = write_policy(dir.path(), "version = 1\n[compile]\ntimeout_ms = 50\n");
    let (code, stderr, report) =
        run_json(dir.path(), &heavy, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("did not compile within 50 ms (compile.timeout_ms)"),
        "{stderr}"
    );
    assert_eq!(report["runs"][0]["outcome"]["code"], "invalid-module");
}

#[test]
fn a_compile_past_its_memory_limit_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Cranelift holds the whole function's IR: far more than 16 MiB.
    let heavy = heavy_component(dir.path(), 1_000_000);
    let policy = write_policy(
        dir.path(),
        "version = 1\n[compile]\nmemory_bytes = 16_777_216\ntimeout_ms = 600_000\n",
    );
    let (code, stderr, report) =
        run_json(dir.path(), &heavy, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("did not compile within 16777216 bytes of memory (compile.memory_bytes)"),
        "{stderr}"
    );
    assert_eq!(report["runs"][0]["outcome"]["code"], "invalid-module");
}
