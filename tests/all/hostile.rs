//! Hostile guests, as WAT fixtures: `tests/fixtures/hostile/*.wat`, one
//! behaviour per file, run from a table built from their headers (see
//! `tests/fixtures/hostile/README.md` for the header format and the
//! harness).
//!
//! For every fixture the runner asserts:
//! - the exact outcome code of the `;; expect:` header, and every
//!   `;; assert:` line against a JSON view of the run ([`view`]);
//! - that the outcome is never a host fault (a host panic, a host-internal
//!   trap, or a load error that is not the component's), whatever the
//!   header expects;
//! - that no student or optimizer outlives a run
//!   ([`Sandbox::live_handles`] is 0 after every run);
//! - that the host survived: the same [`Sandbox`] runs (or refuses) the
//!   same component again with the same outcome;
//! - that a normal run right after it (plugins/vanilla, on this test
//!   thread's default-policy sandbox) gives a report bit-identical to the
//!   one a fresh `w2s run` process wrote ([`check_normal_run`]).
//!
//! Fixtures are compiled with the `wat` crate at test time; no `.wasm` is
//! committed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use serde_json::{Value, json};
use w2s_host::{ArtifactCache, HostError, Lookup, Outcome, Policy, RunReport, Sandbox, Strategy};
use w2s_train::bundle::PublicTask;

use crate::helpers::{assert_each_passes, default_task, plugin, read_json, repo, run, w2s};

/// The run seed of every hostile run and of the normal runs.
pub(crate) const SEED: u64 = 7;
/// The normal run: plugins/vanilla, small enough to follow every fixture.
pub(crate) const NORMAL_CONFIG: &str = "epochs=1,hidden=16";

/// What the whole suite shares: the default task, vanilla's bytes, and
/// the reference report of a fresh process.
pub(crate) struct Suite {
    pub(crate) task: Arc<PublicTask>,
    vanilla: Vec<u8>,
    /// The normal run's view and student, from `w2s run` in a fresh
    /// process.
    reference: (Value, (String, Vec<Vec<u32>>)),
}

/// A sandbox with the default policy, and vanilla loaded in it: one per
/// test thread, so that [`Sandbox::live_handles`] counts only that test's
/// runs.
pub(crate) struct Default {
    pub(crate) sandbox: Sandbox,
    vanilla: Strategy,
}

/// This thread's default sandbox.
pub(crate) fn default_sandbox() -> &'static Default {
    thread_local! {
        static DEFAULT: &'static Default = {
            let sandbox = Sandbox::new(Policy::default()).unwrap();
            let vanilla = load(&sandbox, &suite().vanilla).unwrap();
            Box::leak(Box::new(Default { sandbox, vanilla }))
        };
    }
    DEFAULT.with(|d| *d)
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
                    &std::fs::read(out.path().join("student-0.safetensors")).unwrap(),
                    &candle_core::Device::Cpu,
                )
                .unwrap(),
            ),
        );
        let task = Arc::new(PublicTask::open(&task_dir, &candle_core::Device::Cpu).unwrap());
        Suite {
            task,
            vanilla: std::fs::read(&vanilla_path).unwrap(),
            reference,
        }
    })
}

/// The parts of a report that the host produces, from a `run.json` of the
/// CLI: everything but timings, limits, versions and provenance that the
/// library does not see.
fn normal_view_of_json(report: &Value) -> Value {
    json!({
        "outcome": report["runs"][0]["outcome"],
        "notes": report["runs"][0]["notes"],
        "usage": report["runs"][0]["usage"],
        "audit": report["runs"][0]["audit"],
        "metrics": report["runs"][0]["metrics"],
        "metrics_dropped": report["runs"][0]["metrics_dropped"],
        "stdout": report["runs"][0]["stdout"],
        "stderr": report["runs"][0]["stderr"],
        "seed": report["runs"][0]["seed"],
        "wasm_sha256": report["wasm"]["sha256"],
        "policy_sha256": report["policy"]["sha256"],
    })
}

/// The same parts, from a library [`RunReport`], through a JSON round trip
/// as the CLI writes them.
fn normal_view_of_report(r: &RunReport, policy_sha256: &str) -> Value {
    let v = json!({
        "outcome": {"code": r.outcome.code(), "message": r.outcome.message(), "detail": r.outcome},
        "notes": r.notes.iter().map(|n| json!({"code": n.code(), "message": n.message(), "detail": n})).collect::<Vec<_>>(),
        "usage": r.usage,
        "audit": r.audit,
        "metrics": r.metrics,
        "metrics_dropped": r.metrics_dropped,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "seed": r.seed,
        "wasm_sha256": r.wasm_sha256,
        "policy_sha256": policy_sha256,
    });
    serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap()
}

/// Runs plugins/vanilla on this thread's default sandbox and checks that
/// its report and student are bit-identical to those of a fresh process.
pub(crate) fn check_normal_run() -> Result<(), String> {
    let (s, d) = (suite(), default_sandbox());
    let r = d.sandbox.run(
        &d.vanilla,
        Arc::clone(&s.task),
        NORMAL_CONFIG,
        SEED,
        &mut |_| {},
    );
    let view = normal_view_of_report(&r, &d.sandbox.policy().sha256());
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
/// bytes are not compared: `w2s_train::checkpoint::to_bytes` writes its
/// metadata from a `HashMap`, whose order varies between processes.)
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

/// What the assertions of a fixture see: the outcome (with its fields),
/// its message, usage, output and metrics counts, and the returned
/// student's architecture; or, when loading failed, the load error.
pub(crate) fn view(result: Result<&RunReport, &HostError>) -> Value {
    match result {
        // A load error that is no outcome is the host's fault, not the
        // component's: its code is `host-fault`, which no header expects.
        Err(e) => json!({
            "outcome": e.outcome().map_or(json!({"code": "host-fault"}), |o| json!(o)),
            "message": e.to_string(),
        }),
        Ok(r) => json!({
            "outcome": r.outcome,
            "message": r.outcome.message(),
            "notes": r.notes.iter().map(|n| json!(n)).collect::<Vec<_>>(),
            "usage": r.usage,
            "audit": r.audit,
            "metrics": r.metrics.len(),
            "metrics_dropped": r.metrics_dropped,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "student": r.student.as_ref().map(|h| h.arch().describe()),
            "wall_ms": u64::try_from(r.usage.wall_time.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// Loads `wasm` on `sandbox` the way `w2s eval` does, minus the child
/// process: the checks before compiling, compilation with the sandbox's
/// engine configuration, the artifact cache (so a component is compiled
/// once per test process, whatever sandbox runs it), and validation.
pub(crate) fn load(sandbox: &Sandbox, wasm: &[u8]) -> Result<Strategy, HostError> {
    static CACHE: OnceLock<(tempfile::TempDir, ArtifactCache)> = OnceLock::new();
    let (_, cache) = CACHE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path());
        (dir, cache)
    });
    sandbox.preflight(wasm)?;
    let key = ArtifactCache::key(sandbox, wasm);
    let sha256 = hex::encode(Sha256::digest(wasm));
    if let Lookup::Hit(component) = cache.get(sandbox, &key) {
        return sandbox.load_compiled(component, sha256);
    }
    cache.put(&key, &Sandbox::precompile(wasm)?)?;
    match cache.get(sandbox, &key) {
        Lookup::Hit(component) => sandbox.load_compiled(component, sha256),
        _ => panic!("the artifact just stored is not in the cache"),
    }
}

/// Runs a loaded strategy once, with the suite's task and seed.
pub(crate) fn run_once(sandbox: &Sandbox, strategy: &Strategy, config: &str) -> RunReport {
    sandbox.run(
        strategy,
        Arc::clone(&suite().task),
        config,
        SEED,
        &mut |_| {},
    )
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
    /// and `!contains` the rest of the line as text, where `\xNN` is a
    /// byte below 0x80; `<=`/`>=` a number,
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
        let text = || {
            got.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| got.to_string())
        };
        let number = |v: &Value| v.as_f64();
        let ok = match self.op.as_str() {
            "==" | "!=" => {
                let want: Value = serde_json::from_str(&self.value)
                    .map_err(|e| format!("{}: bad JSON value: {e}", self.value))?;
                (got == &want) == (self.op == "==")
            }
            "contains" => text().contains(&unescape(&self.value)?),
            "!contains" => !text().contains(&unescape(&self.value)?),
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

/// `\xNN` escapes in an assertion's text, so that a header can name a
/// control character.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\\x") {
        out.push_str(&rest[..at]);
        let hex = rest
            .get(at + 2..at + 4)
            .ok_or("a \\x escape needs two hex digits")?;
        let byte = u8::from_str_radix(hex, 16).map_err(|e| format!("\\x{hex}: {e}"))?;
        out.push(char::from(byte));
        rest = &rest[at + 4..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A fixture's header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    /// The expected outcome code.
    pub(crate) expect: String,
    /// Policy lines (TOML, dotted keys) changed from the defaults.
    pub(crate) policy: Vec<String>,
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
            policy: Vec::new(),
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
                "policy" => header.policy.push(value.to_owned()),
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

    /// The policy of the run: the defaults with the header's lines.
    pub(crate) fn policy(&self) -> Result<Policy, String> {
        policy_from_lines(&self.policy)
    }
}

/// A policy from TOML lines (`guest.fuel = 10`), version added.
pub(crate) fn policy_from_lines(lines: &[String]) -> Result<Policy, String> {
    let text = format!("version = 1\n{}\n", lines.join("\n"));
    Policy::from_toml_str(&text).map_err(|e| format!("policy {lines:?}: {e}"))
}

/// Checks a view against a header: no host fault, the expected code, and
/// every assertion.
fn check_view(v: &Value, header: &Header) -> Result<(), String> {
    let code = v["outcome"]["code"].as_str().unwrap_or_default();
    let kind = v["outcome"]["kind"].as_str().unwrap_or_default();
    if code == "host-fault" || code == "trap" && ["host-panic", "host-internal"].contains(&kind) {
        return Err(format!("host fault: {v}"));
    }
    if code != header.expect {
        return Err(format!("expected {}, got {code}: {v}", header.expect));
    }
    header.asserts.iter().try_for_each(|a| a.check(v))
}

/// Runs one hostile case on `sandbox` and checks everything the suite
/// promises: the outcome and assertions of `header`; `after` (the host
/// side, for instance that no file appeared outside a sandbox); that no
/// student or optimizer outlives the run; that the host survived (the same
/// sandbox runs, or refuses, the same component again with the same
/// outcome); and that a normal run afterwards matches a fresh process.
pub(crate) fn check_case(
    sandbox: &Sandbox,
    wasm: &[u8],
    header: &Header,
    after: fn() -> Result<(), String>,
) -> Result<(), String> {
    let no_live_handles = |when: &str| match sandbox.live_handles() {
        0 => Ok(()),
        n => Err(format!("{n} students or optimizers alive {when}")),
    };
    match load(sandbox, wasm) {
        Err(e) => {
            let v = view(Err(&e));
            check_view(&v, header)?;
            let again = load(sandbox, wasm).map(|s| run_once(sandbox, &s, &header.config));
            let again = view(again.as_ref());
            if again["outcome"] != v["outcome"] {
                return Err(format!("loading again gave {}", again["outcome"]));
            }
        }
        Ok(strategy) => {
            let v = view(Ok(&run_once(sandbox, &strategy, &header.config)));
            no_live_handles("after the run")?;
            after()?;
            check_view(&v, header)?;
            let again = view(Ok(&run_once(sandbox, &strategy, &header.config)));
            no_live_handles("after the second run")?;
            if again["outcome"]["code"] != v["outcome"]["code"] {
                return Err(format!(
                    "a second run on the same sandbox gave {}",
                    again["outcome"]
                ));
            }
        }
    }
    check_normal_run()?;
    no_live_handles("after the normal run")
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
    if !Outcome::CODES.contains(&header.expect.as_str()) {
        return Err(format!("unknown outcome code {:?}", header.expect));
    }
    let wasm = wat::parse_str(fixture_text(&text)).map_err(|e| format!("WAT: {e}"))?;
    let policy = header.policy()?;
    let own;
    let sandbox = if policy == Policy::default() {
        &default_sandbox().sandbox
    } else {
        own = Sandbox::new(policy).map_err(|e| e.to_string())?;
        &own
    };
    check_case(sandbox, &wasm, &header, || Ok(()))
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

    assert_each_passes(paths.iter().map(|path| {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        (name, || run_fixture(path))
    }));
}

#[test]
fn a_fixture_without_an_expect_header_is_refused() {
    let err = Header::parse(";; a hostile guest\n(func (export \"run\"))").unwrap_err();
    assert!(err.contains("expect"), "{err}");
    let err = Header::parse(";; expect: trap\n;; expect: timeout\n").unwrap_err();
    assert!(err.contains("more than one"), "{err}");
    let h = Header::parse(
        ";; expect: trap\n;; policy: guest.fuel = 10\n;; policy: guest.wall_clock_ms = 5\n;; assert: /outcome/kind == \"x\"\n(func)",
    )
    .unwrap();
    assert_eq!(h.expect, "trap");
    assert_eq!(h.policy().unwrap().guest().fuel, 10);
    assert_eq!(h.policy().unwrap().guest().wall_clock_ms, 5);
    assert!(Header::parse(";; expect: trap\n;; assert: nope").is_err());
    // Headers end at the first line of code.
    let h = Header::parse(";; expect: trap\n(func)\n;; expect: timeout").unwrap();
    assert_eq!(h.expect, "trap");
}
