//! The second layer, tested as if the first had failed.
//!
//! `w2s-breach-probe` (runner/src/bin/breach_probe.rs, built only with the
//! runner's `breach-probe` feature) applies exactly the confinement
//! `w2s-runner` applies for a job (`w2s_runner::confine_for`), then does
//! what a guest that escaped wasmtime would: read the task's `heldout/`
//! and the evaluator's `.w2s/secret`, connect to 127.0.0.1, start a
//! process, `execve` a program. Run unconfined, every attempt succeeds (so
//! the files, the port and the programs are there to be had); confined,
//! every one is denied. So the layer is what stops them.
//!
//! The other tests here check that evaluations run confined on this kernel
//! and say so, and that `--require-confinement` holds.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use w2s_policy::Policy;
use w2s_runner::job::{JOB_FILE, Job};
use w2s_train::device::DeviceSpec;

use crate::helpers::{default_task, ensure_runner, eval_report, plugin, workdir};

/// The attempts the probe makes, in order.
const ATTEMPTS: [&str; 5] = ["read heldout", "read secret", "connect", "spawn", "execve"];

fn probe_job(out: &Path) -> std::path::PathBuf {
    let policy = Policy::default();
    let job = Job {
        task_dir: default_task(),
        device: DeviceSpec::Cpu,
        cache_dir: out.join("cache"),
        cache_key: "0".repeat(64),
        wasm_sha256: "0".repeat(64),
        policy: w2s_runner::job::policy_file(&policy),
        policy_sha256: policy.sha256(),
        config: String::new(),
        out_dir: out.to_path_buf(),
        runs: Vec::new(),
        require_confinement: true,
    };
    let path = out.join(JOB_FILE);
    std::fs::write(&path, serde_json::to_vec(&job).unwrap()).unwrap();
    path
}

/// Runs the probe; returns its stdout lines.
fn probe(job: &Path, port: u16, confined: bool) -> Vec<String> {
    let mut cmd = Command::new(ensure_runner().join("w2s-breach-probe"));
    cmd.arg("--job")
        .arg(job)
        .arg("--secret")
        .arg(workdir().join(".w2s/secret"))
        .arg("--port")
        .arg(port.to_string());
    if !confined {
        cmd.arg("--unconfined");
    }
    let out = cmd.output().expect("the probe starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the probe failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

fn outcome_of<'a>(lines: &'a [String], attempt: &str) -> &'a str {
    let prefix = format!("{attempt}: ");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no line for {attempt:?} in {lines:?}"))
}

#[test]
fn a_breached_runner_is_denied_what_the_same_process_unconfined_may_do() {
    let out = tempfile::tempdir().unwrap();
    let job = probe_job(out.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let open = probe(&job, port, false);
    for attempt in ATTEMPTS {
        assert_eq!(outcome_of(&open, attempt), "ok", "unconfined: {open:?}");
    }
    let confined = probe(&job, port, true);
    assert_eq!(
        outcome_of(&confined, "confined"),
        "true",
        "this kernel lacks a layer: {confined:?}"
    );
    for attempt in ATTEMPTS {
        let said = outcome_of(&confined, attempt);
        assert!(said.starts_with("denied"), "confined {attempt}: {said}");
    }
    // Landlock refuses the files (EACCES), seccomp the socket, the new
    // process and execve (EPERM), before Landlock's own TCP rule is reached.
    assert!(outcome_of(&confined, "read heldout").contains("ermission denied"));
    assert!(outcome_of(&confined, "connect").contains("not permitted"));
    assert!(outcome_of(&confined, "execve").contains("not permitted"));
}

#[test]
fn an_evaluation_runs_confined_and_its_report_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = eval_report(
        &plugin("vanilla"),
        &default_task(),
        dir.path(),
        "confined.json",
        &[
            "--seed",
            "1",
            "--config",
            "epochs=2",
            "--require-confinement",
        ],
    );
    let c = &report["confinement"];
    assert!(c["landlock"].as_str().unwrap().starts_with("abi "), "{c}");
    for layer in ["landlock_tcp", "seccomp", "no_new_privs", "rlimits"] {
        assert_eq!(c[layer], true, "{layer}: {c}");
    }
    assert_eq!(report["runs"][0]["outcome"]["code"], "completed");
}
