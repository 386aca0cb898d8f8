//! Hostile bytes: garbage, truncated and oversized components, generated at
//! test time (nothing large is committed). In process, each goes through
//! the same checks as the WAT fixtures ([`check_case`]); as files, `w2s
//! run` must refuse each with one error line, exit status 2 and a report
//! naming the outcome, and the very same binary must then run vanilla.

use std::path::Path;
use std::time::{Duration, Instant};

use w2s_train::rng::Rng;

use crate::helpers::{assert_each_passes, plugin, read_json, run_on_default_task};
use crate::hostile::{Header, check_case, default_sandbox};

/// Size of the oversized component: well over the default cap of 64 MiB.
const HUGE_BYTES: usize = 200 << 20;

/// `n` bytes from a fixed seed.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::for_stream(seed, "hostile-bytes");
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Appends `n` as unsigned LEB128.
fn leb(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a section: its id, its size, its contents.
fn section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    out.push(id);
    leb(out, contents.len());
    out.extend_from_slice(contents);
}

/// A valid component of at least `bytes` bytes: one core module of many
/// functions `(param i32) (result i32)`, each a long chain of
/// `local.get 0; i32.add`. Cheap to write, slow and hungry to compile;
/// written straight as binary, since the text would be ten times larger.
fn huge_component(bytes: usize) -> Vec<u8> {
    const ADDS: usize = 330_000; // about 1 MiB per function body
    let mut body = vec![0x00, 0x20, 0x00]; // no locals; local.get 0
    for _ in 0..ADDS {
        body.extend_from_slice(&[0x20, 0x00, 0x6a]); // local.get 0; i32.add
    }
    body.push(0x0b); // end
    let functions = bytes.div_ceil(body.len());
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(&mut module, 1, &[0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]);
    let mut funcs = Vec::new();
    leb(&mut funcs, functions);
    funcs.extend(std::iter::repeat_n(0x00, functions));
    section(&mut module, 3, &funcs);
    let mut code = Vec::with_capacity(functions * (body.len() + 4) + 8);
    leb(&mut code, functions);
    for _ in 0..functions {
        leb(&mut code, body.len());
        code.extend_from_slice(&body);
    }
    section(&mut module, 10, &code);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(&mut component, 1, &module);
    component
}

/// The first half of vanilla's bytes.
fn truncated_vanilla() -> Vec<u8> {
    let mut bytes = std::fs::read(plugin("vanilla")).unwrap();
    bytes.truncate(bytes.len() / 2);
    bytes
}

/// A component header followed by garbage.
fn component_header_then_garbage() -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend(random_bytes(4096, 2));
    bytes
}

/// A component importing a name that carries a terminal escape sequence.
fn escape_codes_in_a_name() -> Vec<u8> {
    wat::parse_str(r#"(component (import "evil\1b[2J:pkg/iface@1.0.0" (instance)))"#).unwrap()
}

/// The wasm magic with version bytes of no known layer.
fn unknown_layer() -> Vec<u8> {
    b"\0asm\x0e\0\x02\0".to_vec()
}

/// Bad bytes: a name, how to make the bytes, the header (expected outcome
/// and assertions on the view).
type BytesCase = (&'static str, fn() -> Vec<u8>, &'static str);

fn cases() -> Vec<BytesCase> {
    vec![
        (
            "empty",
            Vec::new,
            ";; expect: invalid-module\n;; assert: /message contains not a WebAssembly file",
        ),
        (
            "garbage",
            || random_bytes(1 << 20, 1),
            ";; expect: invalid-module\n;; assert: /message contains not a WebAssembly file",
        ),
        (
            "component_header_then_garbage",
            component_header_then_garbage,
            ";; expect: invalid-module\n;; assert: /message contains does not compile",
        ),
        (
            "truncated_vanilla",
            truncated_vanilla,
            ";; expect: invalid-module\n;; assert: /message contains does not compile",
        ),
        (
            "unknown_layer",
            unknown_layer,
            ";; expect: invalid-module\n;; assert: /message contains unsupported WebAssembly version",
        ),
        (
            "escape_codes_in_a_name",
            escape_codes_in_a_name,
            ";; expect: invalid-module\n;; assert: /message !contains \\x1b",
        ),
        (
            "huge_component",
            || huge_component(HUGE_BYTES),
            ";; expect: invalid-module\n;; assert: /message contains over the limit of 67108864 bytes",
        ),
    ]
}

#[test]
fn hostile_bytes_are_refused_in_process() {
    assert_each_passes(cases().into_iter().map(|(name, bytes, header)| {
        (name, move || {
            let header = Header::parse(header).unwrap();
            check_case(&default_sandbox().sandbox, &bytes(), &header, || Ok(()))
        })
    }));
}

/// `w2s run` of `wasm` (written to `dir`) with extra arguments: the exit
/// status, stderr, and the report.
fn w2s_run(
    dir: &Path,
    name: &str,
    wasm: &[u8],
    extra: &[&str],
) -> (i32, String, serde_json::Value) {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, wasm).unwrap();
    let out = dir.join(format!("{name}-out"));
    let args = [&["--seed", "7"], extra].concat();
    let (o, stdout, stderr) = run_on_default_task(&path, &out, &dir.join("cache"), &args);
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    // Nothing from the component reaches the terminal as a control
    // character.
    for text in [&stdout, &stderr] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{name}: control characters in the output: {text:?}"
        );
    }
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "{name}: expected one error line: {stderr}");
    (
        o.status.code().unwrap_or(-1),
        stderr,
        read_json(&out.join("run.json")),
    )
}

#[test]
fn hostile_bytes_are_refused_by_the_w2s_process() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, header) in cases() {
        let header = Header::parse(header).unwrap();
        let start = Instant::now();
        let (code, stderr, report) = w2s_run(dir.path(), name, &bytes(), &[]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert_eq!(
            report["runs"][0]["outcome"]["code"], header.expect,
            "{name}: {stderr}"
        );
        eprintln!("{name}: ok ({} ms)", start.elapsed().as_millis());
    }
    // The same binary, right after, runs a normal strategy.
    let out = dir.path().join("vanilla-out");
    let (o, _, stderr) = run_on_default_task(
        &plugin("vanilla"),
        &out,
        &dir.path().join("cache"),
        &["--seed", "7", "--config", "epochs=1,hidden=16"],
    );
    assert!(o.status.success(), "{stderr}");
    assert_eq!(
        read_json(&out.join("run.json"))["runs"][0]["outcome"]["code"],
        "completed"
    );
}

/// A 200 MB component under a policy that accepts its size: compilation
/// runs in the child process and is killed at the policy's compile
/// deadline; the `w2s` process itself is unharmed and reports the
/// refusal.
#[test]
fn a_200_mb_component_is_bounded_by_the_compile_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    let text = "version = 1\n[io]\nmax_wasm_bytes = 268_435_456\n[compile]\ntimeout_ms = 3_000\n";
    std::fs::write(&policy, text).unwrap();
    let wasm = huge_component(HUGE_BYTES);
    assert!(wasm.len() >= HUGE_BYTES);
    let start = Instant::now();
    let (code, stderr, report) = w2s_run(
        dir.path(),
        "huge",
        &wasm,
        &["--policy", policy.to_str().unwrap()],
    );
    let took = start.elapsed();
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        report["runs"][0]["outcome"]["code"], "invalid-module",
        "{stderr}"
    );
    assert!(
        stderr.contains("compile.timeout_ms") || stderr.contains("compile.memory_bytes"),
        "{stderr}"
    );
    // The deadline, plus writing and reading 200 MB, with room for a slow
    // machine.
    assert!(took < Duration::from_secs(60), "took {took:?}");
}
