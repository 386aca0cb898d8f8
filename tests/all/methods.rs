//! The method plugins of `plugins/methods.toml` in CI: every one runs its
//! `smoke_config` on a small task, the list forgets no strategy crate, and
//! `w2s bench methods --smoke` writes a well-formed results file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::helpers::{
    TEST_SECRET, assert_clean_error, plugin, python_plugin, read_json, repo, run, w2s,
};

/// Crates in `plugins/` that are not strategies: sandbox fixtures, the
/// fuzz driver, the benchmark guest, and `prior-only`, the fixture that
/// ignores its teacher (the controls must flag it; it is no method).
const NOT_METHODS: [&str; 7] = [
    "hostile-guest",
    "hostile-net",
    "fuzz-driver",
    "bench-guest",
    "prior-only",
    // A hostile fixture for the controls (tests/all/controls.rs): it needs
    // the pool's ground truth in its config.
    "control-evader",
    // Needs a task built from a language model; the method bench runs on
    // synthetic families (tests/all/lora.rs runs it end to end).
    "lora-vanilla",
];

/// `(plugin, smoke_config)` of every method in `plugins/methods.toml`.
fn methods() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("plugins/methods.toml")).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    file["method"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["plugin"].as_str().unwrap().to_owned(),
                m["smoke_config"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A small task (pool 600, test 600), generated once per test process.
fn small_task() -> PathBuf {
    static TASK: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = TASK.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let config = r#"{"name":"methods-smoke","seed":11,"pool":600,"test":600,"teacher_train":2000,"classes":4,"feature_dim":64,"latent":8,"concept_width":32,"strong_noise":0.1,"weak_visible":6,"weak_noise":0.8}"#;
        let (out, _, err) = run(w2s()
            .args(["task", "synth", "--config-json", config, "--out"])
            .arg(tmp.path().join("task")));
        assert!(out.status.success(), "task synth failed: {err}");
        tmp
    });
    dir.path().join("task")
}

#[test]
fn every_listed_method_completes_its_smoke_run_with_a_finite_pgr() {
    let task = small_task();
    let dir = tempfile::tempdir().unwrap();
    for (name, smoke) in methods() {
        let wasm = method_component(&name);
        let json = dir.path().join(format!("{name}.json"));
        let (out, stdout, stderr) = run(w2s()
            .arg("eval")
            .arg(&wasm)
            .arg("--task")
            .arg(&task)
            .args(["--seeds", "1", "--config", &smoke, "--json"])
            .arg(&json));
        assert!(out.status.success(), "{name}:\n{stdout}\n{stderr}");
        let r = read_json(&json);
        assert_eq!(r["runs"][0]["outcome"]["code"], "completed", "{name}");
        for part in ["public", "private"] {
            let pgr = r["score"][part]["pgr"]["mean"].as_f64().unwrap();
            assert!(pgr.is_finite(), "{name}: {part} PGR {pgr}");
        }
    }
}

/// The component of the method `name`: a Rust plugin, or for `python-X`
/// the Python strategy `plugins/python/X.py`.
fn method_component(name: &str) -> PathBuf {
    match name.strip_prefix("python-") {
        Some(python) => python_plugin(python),
        None => plugin(&name.replace('-', "_")),
    }
}

/// The package name of every crate directly under `plugins/`, and
/// `python-X` for every Python strategy `plugins/python/X.py`.
fn plugin_crates() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("plugins/python")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "py") {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            out.insert(format!("python-{stem}"));
        }
    }
    for entry in std::fs::read_dir(repo().join("plugins")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            let value: toml::Value = toml::from_str(&text).unwrap();
            out.insert(value["package"]["name"].as_str().unwrap().to_owned());
        }
    }
    out
}

#[test]
fn methods_toml_lists_every_strategy_crate() {
    let crates = plugin_crates();
    assert!(crates.contains("vanilla"), "{crates:?}");
    let expected: BTreeSet<String> = crates
        .iter()
        .filter(|c| !NOT_METHODS.contains(&c.as_str()))
        .cloned()
        .collect();
    let listed: BTreeSet<String> = methods().into_iter().map(|(p, _)| p).collect();
    let unlisted: Vec<&String> = expected.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "strategy crates missing from plugins/methods.toml: {unlisted:?} (or add them to NOT_METHODS)"
    );
    let unknown: Vec<&String> = listed.difference(&crates).collect();
    assert!(
        unknown.is_empty(),
        "methods.toml lists no such crate: {unknown:?}"
    );
}

/// Every table in `md` has the same number of cells in each row as in its
/// header; returns the number of tables.
fn assert_tables_well_formed(md: &str) -> usize {
    let mut tables = 0;
    let mut width: Option<usize> = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            width = None;
            continue;
        }
        assert!(line.ends_with('|'), "unterminated row: {line}");
        let cells = line.replace("\\|", "").matches('|').count() - 1;
        match width {
            None => {
                width = Some(cells);
                tables += 1;
            }
            Some(w) => assert_eq!(cells, w, "row of another width: {line}"),
        }
    }
    tables
}

/// `w2s bench methods --smoke --seeds 2` with `list` as the methods file,
/// writing into `dir`.
fn bench(dir: &Path, list: &Path, args: &[&str]) -> (std::process::Output, String, String) {
    plugin("vanilla"); // builds the plugins
    run(w2s()
        .args(["bench", "methods", "--smoke", "--seeds", "2"])
        .arg("--methods-file")
        .arg(list)
        .arg("--wasm-dir")
        .arg(repo().join("plugins/target/wasm32-wasip2/release"))
        .arg("--tasks-dir")
        .arg(dir.join("tasks"))
        .arg("--out")
        .arg(dir.join("RESULTS.md"))
        .args(args))
}

#[test]
fn bench_smoke_writes_a_well_formed_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = bench(
        dir.path(),
        &repo().join("plugins/methods.toml"),
        &["--methods", "vanilla", "--families", "latent,slice-errors"],
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let md = std::fs::read_to_string(dir.path().join("RESULTS.md")).unwrap();
    // Methods, families, and one table per family.
    assert_eq!(assert_tables_well_formed(&md), 4, "{md}");
    assert!(
        md.contains("Generated by `w2s bench methods --smoke"),
        "{md}"
    );
    for section in [
        "## latent",
        "## slice-errors",
        "## Discussion",
        "### What the literature reports",
    ] {
        assert!(md.contains(section), "{section}: {md}");
    }
    assert!(!md.contains("## label-noise"), "{md}");
    let commitment = hex::encode(Sha256::digest(TEST_SECRET));
    assert!(
        md.contains(&format!("commitment sha256:{commitment}")),
        "{md}"
    );
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| vanilla")).collect();
    assert_eq!(rows.len(), 3, "{md}"); // the methods table and two families
    for row in &rows[1..] {
        assert!(row.contains("| 2/2 |"), "{row}");
        assert!(row.contains(" ± "), "{row}");
    }
    assert!(md.contains("On slice-errors, vanilla"), "{md}");
}

#[test]
fn bench_records_a_failing_method_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("methods.toml");
    std::fs::write(
        &list,
        "[[method]]\nplugin = \"vanilla\"\nlabel = \"broken vanilla\"\nsource = \"-\"\nconfig = \"\"\nsmoke_config = \"no-such-key=1\"\n\n\
         [[method]]\nplugin = \"prior-only\"\nlabel = \"prior\"\nsource = \"-\"\nconfig = \"\"\nsmoke_config = \"\"\n",
    )
    .unwrap();
    let (out, stdout, stderr) = bench(dir.path(), &list, &["--families", "latent"]);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let md = std::fs::read_to_string(dir.path().join("RESULTS.md")).unwrap();
    assert_tables_well_formed(&md);
    let row = |label: &str| {
        md.lines()
            .rfind(|l| l.starts_with(&format!("| {label} |")))
            .unwrap()
            .to_owned()
    };
    assert!(
        row("broken vanilla").contains("error: no run completed (guest-error"),
        "{md}"
    );
    assert!(row("prior").contains("| 2/2 |"), "{md}");
    assert!(
        md.contains("broken vanilla gave no score on latent"),
        "{md}"
    );
}

#[test]
fn bench_names_the_build_command_for_a_missing_component() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(w2s()
        .args(["bench", "methods", "--smoke", "--wasm-dir"])
        .arg(dir.path())
        .arg("--methods-file")
        .arg(repo().join("plugins/methods.toml")));
    assert_clean_error(&out, &stderr, "scripts/build-plugins.sh");
    assert!(stderr.contains("vanilla.wasm"), "{stderr}");
}
