//! Policy files: the golden invalid files, the example policies, and the
//! `w2s policy` commands.

use std::path::{Path, PathBuf};

use w2s_policy::Policy;
use w2s_policy::explain::Explanation;

use crate::helpers::{assert_clean_error, repo, run, w2s};

fn invalid_dir() -> PathBuf {
    repo().join("tests/policies/invalid")
}

fn example(name: &str) -> PathBuf {
    repo().join("examples/policies").join(name)
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Every `tests/policies/invalid/*.toml` is refused with exactly the text
/// of the `.expected` file next to it.
#[test]
fn invalid_policies_give_their_golden_errors() {
    let dir = invalid_dir();
    let tomls = files_with(&dir, "toml");
    assert!(tomls.len() >= 20, "only {} golden files", tomls.len());
    let mut failures = Vec::new();
    for toml in &tomls {
        let expected_path = toml.with_extension("expected");
        let Ok(expected) = std::fs::read_to_string(&expected_path) else {
            failures.push(format!("{}: no .expected file next to it", toml.display()));
            continue;
        };
        let text = std::fs::read_to_string(toml).unwrap();
        match Policy::from_toml_str(&text) {
            Ok(_) => failures.push(format!("{}: accepted", toml.display())),
            Err(e) if e.to_string() != expected.trim_end() => failures.push(format!(
                "{}:\n  expected: {}\n  got:      {e}",
                toml.display(),
                expected.trim_end()
            )),
            Err(_) => {}
        }
    }
    for expected in files_with(&dir, "expected") {
        if !expected.with_extension("toml").exists() {
            failures.push(format!("{}: no .toml next to it", expected.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn default_toml_is_the_built_in_policy() {
    let text = std::fs::read_to_string(example("default.toml")).unwrap();
    let file = Policy::from_toml_str(&text).unwrap();
    assert_eq!(file, Policy::default());
    assert_eq!(file.sha256(), Policy::default().sha256());
}

#[test]
fn example_policies_are_valid_and_distinct() {
    let hashes: Vec<String> = ["default.toml", "strict.toml", "research.toml"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(example(name)).unwrap();
            Policy::from_toml_str(&text)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .sha256()
        })
        .collect();
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
    let strict =
        Policy::from_toml_str(&std::fs::read_to_string(example("strict.toml")).unwrap()).unwrap();
    assert!(!strict.students().read_hidden);
    let research =
        Policy::from_toml_str(&std::fs::read_to_string(example("research.toml")).unwrap()).unwrap();
    assert!(research.filesystem().scratch.is_some());
}

#[test]
fn policy_check_accepts_and_refuses() {
    let (out, stdout, stderr) = run(w2s().args(["policy", "check"]).arg(example("strict.toml")));
    assert!(out.status.success(), "{stderr}");
    let strict =
        Policy::from_toml_str(&std::fs::read_to_string(example("strict.toml")).unwrap()).unwrap();
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(stdout.contains(&strict.sha256()), "{stdout}");

    let bad = invalid_dir().join("scratch-quota-without-scratch.toml");
    let (out, _, stderr) = run(w2s().args(["policy", "check"]).arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let expected = std::fs::read_to_string(bad.with_extension("expected")).unwrap();
    assert_clean_error(&out, &stderr, expected.trim_end());

    let (out, _, stderr) = run(w2s().args(["policy", "check", "/nonexistent/p.toml"]));
    assert_clean_error(&out, &stderr, "cannot read /nonexistent/p.toml");
}

#[test]
fn policy_explain_reads_plainly_and_as_json() {
    let (out, text, stderr) = run(w2s()
        .args(["policy", "explain"])
        .arg(example("strict.toml")));
    assert!(out.status.success(), "{stderr}");
    for needle in [
        "denied   hidden-representations: `student.hidden` returns the error `not-allowed`",
        "denied   scratch-directory",
        "denied   network",
        "guest.fuel",
        "2000000000 instructions (2e9)",
        "guest.memory_bytes          67108864 bytes (64 MiB)",
        "the run ends: step-limit",
        "refused  w2s:strategy/lm, wasi:clocks/monotonic-clock",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let (out, json, _) = run(w2s()
        .args(["policy", "explain", "--json"])
        .arg(example("strict.toml")));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let strict =
        Policy::from_toml_str(&std::fs::read_to_string(example("strict.toml")).unwrap()).unwrap();
    let expected = serde_json::to_value(Explanation::of(&strict)).unwrap();
    assert_eq!(v["explanation"], expected);
    assert_eq!(v["effective_policy"]["guest"]["fuel"], 2_000_000_000u64);
    assert_eq!(v["explanation"]["sha256"], strict.sha256());
}

/// The policy crate stays plain serde: nothing of the sandbox, the engine
/// or the training code is in its dependency graph.
#[test]
fn the_policy_crate_depends_on_no_engine() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "-p",
            "w2s-policy",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    for forbidden in [
        "wasmtime",
        "w2s-host",
        "w2s-train",
        "w2s-scorer",
        "candle-core",
    ] {
        assert!(
            !tree
                .lines()
                .any(|l| l.starts_with(&format!("{forbidden} "))),
            "w2s-policy depends on {forbidden}"
        );
    }
    assert!(tree.lines().any(|l| l.starts_with("toml ")), "{tree}");
}
