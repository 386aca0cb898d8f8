//! The crate dependency rules of STYLE.md, checked on the resolved graph.
//!
//! - `host`, `train` and `guest-sdk` never depend, even transitively, on
//!   `scorer`; `scorer` never depends on `host`.
//! - The evaluation library (`eval`) never links `scorer`: it starts the
//!   scorer process and reads its verdict, whose types are the plain-serde
//!   crate `verdict` (which depends on no w2s crate). Nor does `bench`,
//!   which evaluates through the library.
//! - `service` depends on none of `host`, `scorer`, `train`, `eval`: it
//!   runs each evaluation in a child process (`w2s eval`).
//! - Guests (the `plugins/` workspace, `guest-sdk` included) depend on
//!   nothing host-side.
//! - The confined runner (`runner`, the process that runs guest code) links
//!   no held-out reader: neither the scorer, nor the evaluation library
//!   (which starts scorers and task generators), nor task building; and no
//!   crate it links has code outside its tests that opens a `heldout/`
//!   file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::helpers::repo;

/// package name -> names of its normal (non-dev) dependencies, resolved.
fn graph(workspace: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| names[d["pkg"].as_str().unwrap()].clone())
            .collect();
        graph.insert(names[node["id"].as_str().unwrap()].clone(), deps);
    }
    graph
}

fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(p) = stack.pop() {
        for d in graph.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn host_train_and_scorer_keep_apart() {
    let g = graph(&repo());
    for krate in ["w2s-host", "w2s-train"] {
        assert!(g.contains_key(krate), "{krate} missing from the graph");
        assert!(
            !reachable(&g, krate).contains("w2s-scorer"),
            "{krate} depends on w2s-scorer"
        );
    }
    // The evaluation library starts the scorer process; it never links it.
    for krate in ["w2s-eval", "w2s-bench", "w2s-verdict"] {
        assert!(g.contains_key(krate), "{krate} missing from the graph");
        assert!(
            !reachable(&g, krate).contains("w2s-scorer"),
            "{krate} depends on w2s-scorer"
        );
    }
    let verdict: Vec<String> = reachable(&g, "w2s-verdict")
        .into_iter()
        .filter(|d| d.starts_with("w2s-"))
        .collect();
    assert!(verdict.is_empty(), "w2s-verdict depends on {verdict:?}");
    let scorer = reachable(&g, "w2s-scorer");
    for forbidden in ["w2s-host", "wasmtime", "wasmtime-wasi"] {
        assert!(
            !scorer.contains(forbidden),
            "w2s-scorer depends on {forbidden}"
        );
    }
    assert!(
        !reachable(&g, "w2s-train").contains("w2s-host"),
        "w2s-train depends on w2s-host"
    );
    // Language models and task building read no held-out part and run no
    // guest: neither needs the sandbox or the scorer.
    for (krate, forbidden) in [
        ("w2s-lm", &["w2s-host", "w2s-scorer", "w2s-train"][..]),
        ("w2s-taskbuild", &["w2s-host", "w2s-scorer"][..]),
    ] {
        let deps = reachable(&g, krate);
        for f in forbidden {
            assert!(!deps.contains(*f), "{krate} depends on {f}");
        }
    }
    // The service runs evaluations as child processes (`w2s eval`): it never
    // runs guest code nor reads held-out data in its own process.
    assert!(
        g.contains_key("w2s-service"),
        "w2s-service missing from the graph"
    );
    let service = reachable(&g, "w2s-service");
    for forbidden in [
        "w2s-host",
        "w2s-scorer",
        "w2s-train",
        "w2s-eval",
        "wasmtime",
    ] {
        assert!(
            !service.contains(forbidden),
            "w2s-service depends on {forbidden}"
        );
    }
}

#[test]
fn the_runner_links_no_held_out_reader() {
    let g = graph(&repo());
    assert!(
        g.contains_key("w2s-runner"),
        "w2s-runner missing from the graph"
    );
    let runner = reachable(&g, "w2s-runner");
    for forbidden in [
        "w2s-scorer",
        "w2s-eval",
        "w2s-taskbuild",
        "w2s-service",
        "w2s-cli",
    ] {
        assert!(
            !runner.contains(forbidden),
            "w2s-runner depends on {forbidden}"
        );
    }
    assert!(runner.contains("w2s-confine") && runner.contains("w2s-host"));
    // What the runner links of ours, itself included: no non-test code
    // there opens a held-out file (only the scorer does).
    let ours: Vec<&str> = runner
        .iter()
        .map(String::as_str)
        .chain(["w2s-runner"])
        .filter(|k| k.starts_with("w2s-"))
        .collect();
    let mut checked = 0;
    for krate in ours {
        let dir = repo().join(krate.trim_start_matches("w2s-")).join("src");
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for line in code.lines() {
                let reads = ["open_verified", "File::open", "fs::read", "Mmap"]
                    .iter()
                    .any(|r| line.contains(r));
                assert!(
                    !(reads && line.contains("HELDOUT")),
                    "{} reads a held-out file: {line}",
                    file.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} files checked");
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_verdict_format_is_versioned_with_the_scorer() {
    assert_eq!(
        w2s_verdict::SCORER_VERSION,
        w2s_scorer::baseline::SCORER_VERSION
    );
}

#[test]
fn guests_depend_on_nothing_host_side() {
    let g = graph(&repo().join("plugins"));
    assert!(
        g.contains_key("w2s-guest-sdk"),
        "guest-sdk is not in the plugins workspace"
    );
    for guest in g.keys().filter(|k| {
        k.as_str() == "w2s-guest-sdk"
            || !k.starts_with("w2s-") && reachable(&g, k).contains("w2s-guest-sdk")
    }) {
        let deps = reachable(&g, guest);
        for forbidden in [
            "w2s-scorer",
            "w2s-host",
            "w2s-train",
            "wasmtime",
            "candle-core",
        ] {
            assert!(!deps.contains(forbidden), "{guest} depends on {forbidden}");
        }
    }
}
