//! Hostile Python guests, and the Python SDK against the real host:
//! `tests/fixtures/python/fixture.py`, built with `w2s guest build`, one
//! behaviour per `mode=`, each ending in its exact typed outcome under the
//! default policy (the loop under a smaller fuel budget, so that it ends in
//! about a second). The component is built and compiled once per test
//! process; the cases run one after the other.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use w2s_host::{Outcome, Policy, RunReport, Sandbox};
use w2s_train::bundle::PublicTask;

use crate::helpers::{assert_clean_error, default_task, load_cached, python_plugin, run, w2s};

/// Fuel of the infinite loop's run (Python's start-up takes far less).
const LOOP_FUEL: u64 = 2_000_000_000;

fn hostile(policy: Policy, mode: &str) -> RunReport {
    let task = Arc::new(PublicTask::open(&default_task(), &Device::Cpu).unwrap());
    let sandbox = Sandbox::new(policy).unwrap();
    let strategy = load_cached(&sandbox, &python_plugin("fixture"));
    let report = sandbox.run(&strategy, task, &format!("mode={mode}"), 3, &mut |_| {});
    assert_eq!(sandbox.live_handles(), 0, "{mode}: handles left alive");
    report
}

fn guest_error(text: &str) -> Outcome {
    Outcome::GuestError {
        message: text.to_owned(),
    }
}

#[test]
fn python_hostile_cases_end_in_their_typed_outcomes() {
    let default = || Policy::default();
    let small_fuel =
        || Policy::from_toml_str(&format!("version = 1\n[guest]\nfuel = {LOOP_FUEL}\n")).unwrap();
    let cases: [(&str, Policy, Outcome); 7] = [
        ("loop", small_fuel(), Outcome::FuelExhausted),
        // 1 GiB against the 256 MiB linear-memory limit: the limiter
        // refuses the growth and ends the run (CPython never sees NULL).
        ("alloc", default(), Outcome::MemoryLimit),
        // No preopened directory: the path does not exist for the guest.
        (
            "passwd",
            default(),
            guest_error("FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'"),
        ),
        // The sockets stub refuses to create the socket (access-denied).
        (
            "socket",
            default(),
            guest_error("PermissionError: [Errno 2] Permission denied"),
        ),
        (
            "dns",
            default(),
            guest_error("PermissionError: [Errno 2] Permission denied"),
        ),
        // The host grants no environment variable, and none of the
        // builder's is baked into the component.
        (
            "environ",
            default(),
            guest_error("RuntimeError: environ={}"),
        ),
        ("raise", default(), guest_error("ValueError: boom")),
    ];
    for (mode, policy, expected) in cases {
        let report = hostile(policy, mode);
        assert_eq!(report.outcome, expected, "{mode}: {}", report.stderr.kept);
        assert!(report.student.is_none(), "{mode}");
        if mode == "loop" {
            assert_eq!(report.usage.fuel_consumed, LOOP_FUEL);
        }
        if mode == "raise" {
            // The SDK prints the traceback to stderr, which the report keeps.
            let stderr = &report.stderr.kept;
            assert!(
                stderr.contains("Traceback (most recent call last)"),
                "{stderr}"
            );
            assert!(stderr.contains("ValueError: boom"), "{stderr}");
        }
    }
}

#[test]
fn python_sdk_tour_completes_against_the_real_host() {
    let report = hostile(Policy::default(), "tour");
    assert_eq!(report.outcome, Outcome::Completed, "{}", report.stderr.kept);
    assert!(report.student.is_some());
    // One backward step and one train step on the held-out fold.
    assert_eq!(report.usage.train_steps, 2);
    assert_eq!(report.metrics.len(), 1);
    assert_eq!(report.metrics[0].name, "tour_loss");
    assert!(report.metrics[0].value.is_finite());
}

/// `w2s guest build APP -o OUT` in the repository root.
fn guest_build(app: &Path, out: &Path) -> (std::process::Output, String, String) {
    run(w2s()
        .current_dir(crate::helpers::repo())
        .args(["guest", "build"])
        .arg(app)
        .arg("-o")
        .arg(out))
}

#[test]
fn guest_build_refuses_bad_strategy_files_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wasm");
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (o, _, e) = guest_build(&write("notes.txt", "run = 1\n"), &out);
    assert_clean_error(&o, &e, "is not a .py file");
    let (o, _, e) = guest_build(&write("my-strategy.py", "def run(c): pass\n"), &out);
    assert_clean_error(&o, &e, "must be a Python module name");
    let (o, _, e) = guest_build(&write("strategy.py", "def run(c): pass\n"), &out);
    assert_clean_error(&o, &e, "is reserved");
    let (o, _, e) = guest_build(&dir.path().join("absent.py"), &out);
    assert_clean_error(&o, &e, "does not exist");
    // Another componentize-py than the pinned one, and a missing stub.
    let ok = write("ok.py", "def run(c): pass\n");
    let (o, _, e) = run(w2s()
        .current_dir(crate::helpers::repo())
        .args(["guest", "build", "--componentize-py", "echo"])
        .arg(&ok)
        .arg("-o")
        .arg(&out));
    assert_clean_error(&o, &e, "componentize-py 0.25.1 is required");
    let (o, _, e) = run(w2s()
        .current_dir(crate::helpers::repo())
        .args(["guest", "build", "--sockets-stub", "/nonexistent.wasm"])
        .arg(&ok)
        .arg("-o")
        .arg(&out));
    assert_clean_error(&o, &e, "the sockets stub /nonexistent.wasm does not exist");
    // Python that does not import: componentize-py's error, on one line.
    let (o, _, e) = guest_build(&write("broken.py", "def run(config:\n"), &out);
    assert_clean_error(&o, &e, "componentize-py failed on");
    assert!(e.contains("SyntaxError"), "{e}");
    assert!(!out.exists());
}

/// CPython's unbuffered stdout writes each `print` with one `write` and
/// ignores a short count: with a 64 KiB write permit, 100 MiB printed showed
/// as 6.6 MB in the report (issue 18, fix 4). The host now offers a permit
/// no guest buffer can exceed, so every byte a guest prints is taken and
/// counted: kept up to the limit, the rest as dropped.
#[test]
fn python_output_past_the_limit_is_counted_byte_for_byte() {
    let report = hostile(Policy::default(), "flood");
    assert_eq!(
        report.outcome,
        guest_error("ValueError: printed 100 lines of 1 MiB"),
        "{}",
        report.stderr.kept
    );
    let out = &report.stdout;
    assert_eq!(out.kept_bytes + out.dropped_bytes, 100 * ((1 << 20) + 1));
    assert!(out.dropped_bytes > 0);
}
