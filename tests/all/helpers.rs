//! Shared helpers: the `w2s` binary, plugins, tasks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The evaluator's secret in [`workdir`]: fixed, so that the host-chosen
/// seeds, hence every figure, are the same from one test run to the next.
pub(crate) const TEST_SECRET: &[u8; 32] = b"w2s-tests-fixed-secret-32-bytes!";

/// The working directory of every `w2s` command a test starts: a temporary
/// directory shared by the whole test process, holding the evaluator's
/// secret at `.w2s/secret` ([`TEST_SECRET`]), so nothing is written into the
/// repository.
pub(crate) fn workdir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".w2s")).unwrap();
        let secret = dir.path().join(".w2s/secret");
        std::fs::write(&secret, TEST_SECRET).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        dir
    })
    .path()
}

/// The `w2s` executable, with the confined runner built beside it.
pub(crate) fn w2s_exe() -> &'static Path {
    ensure_runner();
    Path::new(env!("CARGO_BIN_EXE_w2s"))
}

/// Builds `w2s-runner` (the confined process that runs guests, which an
/// evaluation starts from beside `w2s`) and the test-only
/// `w2s-breach-probe` once per test process: `cargo test -p w2s-cli`
/// builds only the `w2s` binary. Returns the directory they are in.
pub(crate) fn ensure_runner() -> &'static Path {
    static BUILT: OnceLock<()> = OnceLock::new();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_w2s")).parent().unwrap();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // With `w2s-cli`, so that dependencies are built with the features
        // `cargo build` gives them (no second copy of wasmtime).
        cmd.current_dir(repo()).args([
            "build",
            "--quiet",
            "-p",
            "w2s-cli",
            "-p",
            "w2s-runner",
            "--features",
            "w2s-runner/breach-probe",
            "--bins",
        ]);
        if bin_dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo starts");
        assert!(status.success(), "building w2s-runner failed");
    });
    bin_dir
}

/// A `w2s` command, run in [`workdir`].
pub(crate) fn w2s() -> Command {
    ensure_runner();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_w2s"));
    cmd.current_dir(workdir());
    cmd
}

/// `w2s eval WASM --task TASK --json DIR/NAME ARGS...`: asserts that it
/// succeeded and returns the report and the printed table.
pub(crate) fn eval_report(
    wasm: &Path,
    task: &Path,
    dir: &Path,
    name: &str,
    args: &[&str],
) -> (serde_json::Value, String) {
    let json = dir.join(name);
    let (out, stdout, stderr) = run(w2s()
        .arg("eval")
        .arg(wasm)
        .arg("--task")
        .arg(task)
        .arg("--json")
        .arg(&json)
        .args(args));
    assert!(out.status.success(), "eval failed:\n{stdout}\n{stderr}");
    (read_json(&json), stdout)
}

/// [`eval_report`] of plugin `name` on the default task, in a fresh
/// temporary directory: the report and the printed table.
pub(crate) fn eval_default(name: &str, args: &[&str]) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    eval_report(&plugin(name), &default_task(), dir.path(), "r.json", args)
}

/// `w2s run WASM --task <default task> --out OUT --cache-dir CACHE
/// ARGS...`: its output, with stdout and stderr as text. The caller checks
/// the status; the report is `OUT/run.json`.
pub(crate) fn run_on_default_task(
    wasm: &Path,
    out: &Path,
    cache_dir: &Path,
    args: &[&str],
) -> (Output, String, String) {
    run(w2s()
        .arg("run")
        .arg(wasm)
        .arg("--task")
        .arg(default_task())
        .arg("--out")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache_dir)
        .args(args))
}

/// The codes of a report's `flags`, in order.
pub(crate) fn flag_codes(report: &serde_json::Value) -> Vec<String> {
    report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs every named check in order, printing each one's result and time
/// to stderr, then asserts that none failed, listing those that did.
pub(crate) fn assert_each_passes<N, F>(checks: impl IntoIterator<Item = (N, F)>)
where
    N: std::fmt::Display,
    F: FnOnce() -> Result<(), String>,
{
    let mut failures = Vec::new();
    for (name, check) in checks {
        let start = std::time::Instant::now();
        let result = check();
        eprintln!(
            "{name}: {} ({} ms)",
            if result.is_ok() { "ok" } else { "FAILED" },
            start.elapsed().as_millis()
        );
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Removes the fields that may differ between two evaluations of the same
/// submission (wall-clock times, the baseline cache status).
pub(crate) fn strip_volatile(report: &mut serde_json::Value) {
    report.as_object_mut().unwrap().remove("timing");
    report.as_object_mut().unwrap().remove("confinement");
    if let Some(b) = report.pointer_mut("/score/baselines") {
        b.as_object_mut().unwrap().remove("cache");
    }
}

/// Runs a command and returns its output, with stdout and stderr as text.
pub(crate) fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("command starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// `w2s task build --format FORMAT --data DATA --strong STRONG --weak WEAK
/// ARGS... --out OUT`, which must succeed; returns its stdout.
pub(crate) fn task_build(
    format: &str,
    data: &Path,
    [strong, weak]: [&Path; 2],
    args: &[&str],
    out: &Path,
) -> String {
    let (status, stdout, stderr) = run(w2s()
        .args(["task", "build", "--format", format, "--data"])
        .arg(data)
        .arg("--strong")
        .arg(strong)
        .arg("--weak")
        .arg(weak)
        .args(args)
        .arg("--out")
        .arg(out));
    assert!(
        status.status.success(),
        "task build failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Path of a plugin's component, building the plugins workspace for
/// wasm32-wasip2 (`scripts/build-plugins.sh`) once per test process.
pub(crate) fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path = repo().join(format!("plugins/target/wasm32-wasip2/release/{name}.wasm"));
    BUILT.get_or_init(|| {
        let status = Command::new(repo().join("scripts/build-plugins.sh"))
            .arg("--quiet")
            .status()
            .expect("cargo starts");
        assert!(status.success(), "building the plugins failed");
    });
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A shared, read-only copy of the default task (seed 0), generated once
/// per test process. Tests that modify a bundle copy it first.
pub(crate) fn default_task() -> PathBuf {
    static TASK: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    let dir = TASK.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let (out, _, err) = run(w2s()
            .args(["task", "synth", "--seed", "0", "--out"])
            .arg(tmp.path().join("task")));
        assert!(out.status.success(), "task synth failed: {err}");
        tmp
    });
    dir.path().join("task")
}

/// Copies a bundle directory (files and subdirectories) to `to`.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Parses a JSON report file.
pub(crate) fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Asserts that a failed command printed exactly one `error:` line naming
/// `needle`, exited non-zero, and did not panic.
pub(crate) fn assert_clean_error(out: &Output, stderr: &str, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line: {stderr}");
    assert!(
        errors[0].contains(needle),
        "error line does not mention {needle:?}: {}",
        errors[0]
    );
}

/// Path of the component of the Python strategy `plugins/python/<name>.py`,
/// or of the Python fixture `tests/fixtures/python/<name>.py`, built with
/// `w2s guest build` into `plugins/target/wasm32-wasip2/release/
/// python_<name>.wasm` once per test process (about 15 s each: the
/// component embeds CPython; `scripts/build-python-plugins.sh` builds the
/// strategies ahead), and compiled into the artifact cache of [`workdir`]
/// (see [`load_cached`]).
pub(crate) fn python_plugin(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let out = repo().join(format!(
        "plugins/target/wasm32-wasip2/release/python_{name}.wasm"
    ));
    if !built.iter().any(|b| b == name) {
        let app = [
            format!("plugins/python/{name}.py"),
            format!("tests/fixtures/python/{name}.py"),
        ]
        .into_iter()
        .map(|p| repo().join(p))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no Python strategy or fixture named {name}"));
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let (o, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_w2s"))
            .current_dir(repo())
            .args(["guest", "build"])
            .arg(&app)
            .arg("-o")
            .arg(&out));
        assert!(
            o.status.success(),
            "w2s guest build {name}:\n{stdout}\n{stderr}"
        );
        // Compile it now, without a deadline, into the cache `w2s eval`
        // reads: on two busy cores a cold compile can take longer than the
        // default `compile.timeout_ms` (a minute), which is not what the
        // tests that evaluate it are about.
        load_cached(
            &w2s_host::Sandbox::new(w2s_host::Policy::default()).unwrap(),
            &out,
        );
        built.push(name.to_owned());
    }
    out
}

/// Loads `wasm` into `sandbox` through the artifact cache that `w2s eval`
/// uses in [`workdir`], compiling it in this process on a miss: a Python
/// component (about 19 MB) is then compiled once per test process, however
/// many tests and evaluations load it.
pub(crate) fn load_cached(sandbox: &w2s_host::Sandbox, wasm: &Path) -> w2s_host::Strategy {
    static COMPILING: Mutex<()> = Mutex::new(());
    let bytes = std::fs::read(wasm).unwrap();
    let cache = w2s_host::ArtifactCache::new(workdir().join(".w2s/cache/compiled"));
    let key = w2s_host::ArtifactCache::key(sandbox, &bytes);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    if let w2s_host::Lookup::Hit(component) = cache.get(sandbox, &key) {
        return sandbox.load_compiled(component, sha).unwrap();
    }
    sandbox.preflight(&bytes).unwrap();
    cache
        .put(&key, &w2s_host::Sandbox::precompile(&bytes).unwrap())
        .unwrap();
    match cache.get(sandbox, &key) {
        w2s_host::Lookup::Hit(component) => sandbox.load_compiled(component, sha).unwrap(),
        _ => panic!("{}: the artifact just stored does not load", wasm.display()),
    }
}
