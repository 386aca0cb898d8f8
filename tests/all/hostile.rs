//! Hostile guests, as WAT fixtures: `tests/fixtures/hostile/*.wat`, one
//! behaviour per file, run from a table built from their headers (see
//! `tests/fixtures/hostile/README.md` for the header format and the
//! harness).
//!
//! For every fixture the runner asserts:
//! - the exact outcome code of the `;; expect:` header, and every
//!   `;; assert:` line against a JSON view of the run ([`view`]);
//! - that the outcome is never a host panic or a host-internal trap, unless
//!   the header expects exactly that;
//! - that the host survived: the same [`Sandbox`] loads and runs the same
//!   fixture again with the same outcome;
//! - that a normal run right after it (plugins/vanilla, on the shared
//!   default sandbox of this process) gives a report bit-identical to the
//!   one a fresh `w2s run` process wrote ([`check_normal_run`]).
//!
//! Fixtures are compiled with the `wat` crate at test time; no `.wasm` is
//! committed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use w2s_host::{ArchFamily, ArchLimit, HostError, Limits, RunReport, Sandbox, Strategy};
use w2s_train::bundle::PublicTask;

use crate::helpers::{default_task, plugin, read_json, repo, run, w2s};

/// The run seed of every hostile run and of the normal runs.
pub(crate) const SEED: u64 = 7;
/// The normal run: plugins/vanilla, small enough to follow every fixture.
pub(crate) const NORMAL_CONFIG: &str = "epochs=1,hidden=16";

/// What the whole suite shares: the default task, the default sandbox, the
/// vanilla strategy, and the reference report of a fresh process.
pub(crate) struct Suite {
    pub(crate) task: Arc<PublicTask>,
    pub(crate) sandbox: Sandbox,
    vanilla: Strategy,
    /// The normal run's view and student, from `w2s run` in a fresh
    /// process.
    reference: (Value, (String, Vec<Vec<u32>>)),
}

/// The suite, set up once per test process.
pub(crate) fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| {
        let task_dir = default_task();
        let vanilla_path = plugin("vanilla");
        let out = tempfile::tempdir().unwrap();
        let (status, stdout, stderr) = run(w2s()
            .arg("run")
            .arg(&vanilla_path)
            .arg("--task")
            .arg(&task_dir)
            .args(["--seed", &SEED.to_string(), "--config", NORMAL_CONFIG])
            .arg("--out")
            .arg(out.path()));
        assert!(status.status.success(), "w2s run: {stdout}\n{stderr}");
        let reference = (
            normal_view_of_json(&read_json(&out.path().join("run.json"))),
            student_bits(
                &w2s_train::checkpoint::from_bytes(
                    &std::fs::read(out.path().join("student.safetensors")).unwrap(),
                    &candle_core::Device::Cpu,
                )
                .unwrap(),
            ),
        );
        let task = Arc::new(PublicTask::open(&task_dir, &candle_core::Device::Cpu).unwrap());
        let sandbox = Sandbox::new(Limits::default()).unwrap();
        let vanilla = sandbox.load(&std::fs::read(&vanilla_path).unwrap()).unwrap();
        Suite {
            task,
            sandbox,
            vanilla,
            reference,
        }
    })
}

/// The parts of a report that the host produces, from a `run.json` of the
/// CLI: everything but timings, limits, versions and provenance that the
/// library does not see.
fn normal_view_of_json(report: &Value) -> Value {
    json!({
        "outcome": report["outcome"],
        "usage": report["usage"],
        "metrics": report["metrics"],
        "metrics_dropped": report["metrics_dropped"],
        "stdout": report["stdout"],
        "stderr": report["stderr"],
        "seed": report["seed"],
        "wasm_sha256": report["wasm"]["sha256"],
    })
}

/// The same parts, from a library [`RunReport`], through a JSON round trip
/// as the CLI writes them.
fn normal_view_of_report(r: &RunReport) -> Value {
    let v = json!({
        "outcome": {"code": r.outcome.code(), "message": r.outcome.message(), "detail": r.outcome},
        "usage": r.usage,
        "metrics": r.metrics,
        "metrics_dropped": r.metrics_dropped,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "seed": r.seed,
        "wasm_sha256": r.wasm_sha256,
    });
    serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap()
}

/// Runs plugins/vanilla on the shared default sandbox and checks that its
/// report and student are bit-identical to those of a fresh process.
pub(crate) fn check_normal_run() -> Result<(), String> {
    let s = suite();
    let r = s
        .sandbox
        .run(&s.vanilla, Arc::clone(&s.task), NORMAL_CONFIG, SEED, &mut |_| {});
    let view = normal_view_of_report(&r);
    if view != s.reference.0 {
        return Err(format!(
            "normal run differs from a fresh process:\n  got  {view}\n  want {}",
            s.reference.0
        ));
    }
    let student = r.student.as_ref().ok_or("normal run returned no student")?;
    if student_bits(student) != s.reference.1 {
        return Err("normal run's student differs from a fresh process's".to_owned());
    }
    Ok(())
}

/// A student's architecture and the bits of every parameter. (Checkpoint
/// bytes are not compared: their metadata order varies between processes.)
pub(crate) fn student_bits(head: &w2s_train::Head) -> (String, Vec<Vec<u32>>) {
    let params = head
        .params()
        .iter()
        .map(|p| {
            let values = p.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            values.into_iter().map(f32::to_bits).collect()
        })
        .collect();
    (head.arch().describe(), params)
}

/// The outcome code of a component that [`Sandbox::load`] refused.
pub(crate) fn load_error_code(err: &HostError) -> &'static str {
    match err {
        HostError::ForbiddenImport { .. } => "import-denied",
        _ => "invalid-module",
    }
}

/// What the assertions of a fixture see: the outcome (with its fields),
/// its message, usage, output and metrics counts, and the returned
/// student's architecture; or, when loading failed, the load error.
pub(crate) fn view(result: &Result<RunReport, HostError>) -> Value {
    match result {
        Err(e) => json!({
            "outcome": {"code": load_error_code(e)},
            "message": e.to_string(),
        }),
        Ok(r) => json!({
            "outcome": r.outcome,
            "message": r.outcome.message(),
            "usage": r.usage,
            "metrics": r.metrics.len(),
            "metrics_dropped": r.metrics_dropped,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "student": r.student.as_ref().map(|h| h.arch().describe()),
            "wall_ms": u64::try_from(r.usage.wall_time.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// Loads and runs `wasm` once on `sandbox`.
pub(crate) fn load_and_run(
    sandbox: &Sandbox,
    wasm: &[u8],
    config: &str,
) -> Result<RunReport, HostError> {
    let strategy = sandbox.load(wasm)?;
    Ok(sandbox.run(&strategy, Arc::clone(&suite().task), config, SEED, &mut |_| {}))
}

/// Sets one limit from a fixture header (`key=value`). Durations are in
/// milliseconds; `allowed` is `linear`, `mlp:N` or both, `+`-separated.
pub(crate) fn set_limit(limits: &mut Limits, key: &str, value: &str) -> Result<(), String> {
    let num = || {
        value
            .replace('_', "")
            .parse::<u64>()
            .map_err(|e| format!("limit {key}={value}: {e}"))
    };
    let small = || {
        num().and_then(|n| u32::try_from(n).map_err(|e| format!("limit {key}={value}: {e}")))
    };
    match key {
        "fuel" => limits.fuel = num()?,
        "wall_clock_ms" => limits.wall_clock = Duration::from_millis(num()?),
        "memory_bytes" => limits.memory_bytes = num()?,
        "table_elements" => limits.table_elements = num()?,
        "instances" => limits.instances = small()?,
        "max_handles" => limits.max_handles = small()?,
        "tensor_bytes" => limits.tensor_bytes = num()?,
        "compute_flops" => limits.compute_flops = num()?,
        "max_indices_per_call" => limits.max_indices_per_call = small()?,
        "max_metric_points" => limits.max_metric_points = small()?,
        "stdout_bytes" => limits.stdout_bytes = num()?,
        "stderr_bytes" => limits.stderr_bytes = num()?,
        "max_wasm_bytes" => limits.max_wasm_bytes = num()?,
        "allowed" => {
            limits.allowed_archs = value
                .split('+')
                .map(|a| match a.split_once(':') {
                    None if a == "linear" => Ok(ArchLimit {
                        family: ArchFamily::Linear,
                        max_hidden: 0,
                    }),
                    Some(("mlp", n)) => Ok(ArchLimit {
                        family: ArchFamily::Mlp,
                        max_hidden: n.parse().map_err(|e| format!("allowed {a}: {e}"))?,
                    }),
                    _ => Err(format!("allowed: unknown architecture {a:?}")),
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(format!("unknown limit {key:?}")),
    }
    Ok(())
}

/// One `;; assert:` line: a JSON pointer into [`view`], an operator and a
/// value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assertion {
    pointer: String,
    op: String,
    value: String,
}

impl Assertion {
    /// Parses `POINTER OP VALUE` (`==`/`!=` take a JSON value; `contains`
    /// and `!contains` the rest of the line as text; `<=`/`>=` a number,
    /// and `len<=` a number compared with the length of a string).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().splitn(3, ' ');
        let (Some(pointer), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("assertion {text:?} is not `POINTER OP VALUE`"));
        };
        if !pointer.starts_with('/') {
            return Err(format!("assertion {text:?}: the pointer must start with /"));
        }
        if !["==", "!=", "contains", "!contains", "<=", ">=", "len<="].contains(&op) {
            return Err(format!("assertion {text:?}: unknown operator {op}"));
        }
        Ok(Self {
            pointer: pointer.to_owned(),
            op: op.to_owned(),
            value: value.trim().to_owned(),
        })
    }

    /// Checks the assertion against a view.
    pub(crate) fn check(&self, view: &Value) -> Result<(), String> {
        let got = view.pointer(&self.pointer).unwrap_or(&Value::Null);
        let text = || got.as_str().map(str::to_owned).unwrap_or_else(|| got.to_string());
        let number = |v: &Value| v.as_f64();
        let ok = match self.op.as_str() {
            "==" | "!=" => {
                let want: Value = serde_json::from_str(&self.value)
                    .map_err(|e| format!("{}: bad JSON value: {e}", self.value))?;
                (got == &want) == (self.op == "==")
            }
            "contains" => text().contains(&self.value),
            "!contains" => !text().contains(&self.value),
            "len<=" => {
                let want: usize = self.value.parse().map_err(|e| format!("{e}"))?;
                got.as_str().is_some_and(|s| s.len() <= want)
            }
            _ => {
                let want: f64 = self.value.parse().map_err(|e| format!("{e}"))?;
                match number(got) {
                    Some(g) if self.op == "<=" => g <= want,
                    Some(g) => g >= want,
                    None => false,
                }
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "assert {} {} {} failed: got {got}",
                self.pointer, self.op, self.value
            ))
        }
    }
}

/// A fixture's header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    /// The expected outcome code.
    pub(crate) expect: String,
    /// `(key, value)` limits to change from the defaults.
    pub(crate) limits: Vec<(String, String)>,
    /// The config string for `run`.
    pub(crate) config: String,
    /// Further assertions on the run's view.
    pub(crate) asserts: Vec<Assertion>,
}

impl Header {
    /// Parses the leading `;; key: value` comment lines of a fixture. A
    /// fixture without exactly one `;; expect:` line is refused.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut expect = Vec::new();
        let mut header = Header {
            expect: String::new(),
            limits: Vec::new(),
            config: String::new(),
            asserts: Vec::new(),
        };
        for line in text.lines().map(str::trim) {
            let Some(comment) = line.strip_prefix(";;") else {
                if line.is_empty() {
                    continue;
                }
                break;
            };
            let Some((key, value)) = comment.trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "expect" => expect.push(value.to_owned()),
                "limits" => {
                    for kv in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let (k, v) = kv
                            .split_once('=')
                            .ok_or_else(|| format!("limit {kv:?} is not key=value"))?;
                        header.limits.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                "config" => header.config = value.to_owned(),
                "assert" => header.asserts.push(Assertion::parse(value)?),
                _ => {}
            }
        }
        match expect.as_slice() {
            [one] if !one.is_empty() => header.expect = one.clone(),
            [] => return Err("no `;; expect: <outcome-code>` header".to_owned()),
            _ => return Err("more than one `;; expect:` header".to_owned()),
        }
        Ok(header)
    }

    /// The limits of the run: the defaults with the header's changes.
    pub(crate) fn limits(&self) -> Result<Limits, String> {
        let mut limits = Limits::default();
        for (k, v) in &self.limits {
            set_limit(&mut limits, k, v)?;
        }
        Ok(limits)
    }
}

/// Outcome codes a header may name: the host's, plus the load-time ones.
pub(crate) const KNOWN_CODES: [&str; 13] = [
    "completed",
    "guest-error",
    "trap",
    "fuel-exhausted",
    "timeout",
    "memory-limit",
    "handle-limit",
    "tensor-memory-limit",
    "compute-budget-exhausted",
    "step-limit",
    "invalid-result",
    "invalid-module",
    "import-denied",
];

/// Checks one run against a header: code, assertions, no host fault, and
/// the host's survival (the same sandbox runs `wasm` again with the same
/// outcome) followed by a normal run.
pub(crate) fn check_run(
    sandbox: &Sandbox,
    wasm: &[u8],
    header: &Header,
    first: Result<RunReport, HostError>,
) -> Result<(), String> {
    let v = view(&first);
    let code = v["outcome"]["code"].as_str().unwrap_or_default().to_owned();
    let kind = v["outcome"]["kind"].as_str().unwrap_or_default();
    if code == "trap" && ["host-panic", "host-internal"].contains(&kind) {
        return Err(format!("host fault: {v}"));
    }
    if code != header.expect {
        return Err(format!("expected {}, got {code}: {v}", header.expect));
    }
    for a in &header.asserts {
        a.check(&v)?;
    }
    // The host survived: the same sandbox can load and run it again.
    let again = load_and_run(sandbox, wasm, &header.config);
    let again_code = view(&again)["outcome"]["code"].clone();
    if again_code != v["outcome"]["code"] {
        return Err(format!("a second run on the same sandbox gave {again_code}"));
    }
    check_normal_run()
}

fn fixtures_dir() -> PathBuf {
    repo().join("tests/fixtures/hostile")
}

/// The component text of a fixture: a complete `(component ...)` or
/// `(module ...)` as is, anything else spliced into the harness.
pub(crate) fn fixture_text(text: &str) -> String {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(";;"))
        .unwrap_or_default();
    if first.starts_with("(component") || first.starts_with("(module") {
        return text.to_owned();
    }
    let harness = std::fs::read_to_string(repo().join("tests/fixtures/hostile_harness.wat"))
        .expect("the harness exists");
    assert!(harness.contains(";; @BODY@"));
    harness.replace(";; @BODY@", text)
}

/// Runs one fixture file.
fn run_fixture(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let header = Header::parse(&text)?;
    if !KNOWN_CODES.contains(&header.expect.as_str()) {
        return Err(format!("unknown outcome code {:?}", header.expect));
    }
    let wasm = wat::parse_str(fixture_text(&text)).map_err(|e| format!("WAT: {e}"))?;
    let limits = header.limits()?;
    let own;
    let sandbox = if limits == Limits::default() {
        &suite().sandbox
    } else {
        own = Sandbox::new(limits).map_err(|e| e.to_string())?;
        &own
    };
    let first = load_and_run(sandbox, &wasm, &header.config);
    check_run(sandbox, &wasm, &header, first)
}

#[test]
fn every_wat_fixture_ends_as_its_header_says() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 40, "only {} fixtures", paths.len());
    let only = std::env::var("W2S_HOSTILE_ONLY").unwrap_or_default();
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if !name.contains(&only) {
            continue;
        }
        let start = std::time::Instant::now();
        let result = run_fixture(path);
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

#[test]
fn a_fixture_without_an_expect_header_is_refused() {
    let err = Header::parse(";; a hostile guest\n(func (export \"run\"))").unwrap_err();
    assert!(err.contains("expect"), "{err}");
    let err = Header::parse(";; expect: trap\n;; expect: timeout\n").unwrap_err();
    assert!(err.contains("more than one"), "{err}");
    let h = Header::parse(
        ";; expect: trap\n;; limits: fuel=10, wall_clock_ms=5\n;; assert: /outcome/kind == \"x\"\n(func)",
    )
    .unwrap();
    assert_eq!(h.expect, "trap");
    assert_eq!(h.limits().unwrap().fuel, 10);
    assert!(Header::parse(";; expect: trap\n;; assert: nope").is_err());
    // Headers end at the first line of code.
    let h = Header::parse(";; expect: trap\n(func)\n;; expect: timeout").unwrap();
    assert_eq!(h.expect, "trap");
}
