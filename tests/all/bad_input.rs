//! Bad input gets one clear error line naming the problem, a non-zero exit
//! and no panic.

use std::path::Path;

use crate::helpers::{assert_clean_error, copy_dir, default_task, run, w2s};

fn eval_file(task: &Path, wasm: &Path) -> (std::process::Output, String, String) {
    run(w2s().arg("eval").arg(wasm).arg("--task").arg(task))
}

#[test]
fn a_file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, b"this is not webassembly").unwrap();
    let (out, _, stderr) = eval_file(&default_task(), &path);
    assert_clean_error(&out, &stderr, "not a WebAssembly");
}

#[test]
fn a_core_module_instead_of_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    std::fs::write(
        &path,
        wat::parse_str(r#"(module (func (export "run")))"#).unwrap(),
    )
    .unwrap();
    let (out, _, stderr) = eval_file(&default_task(), &path);
    assert_clean_error(&out, &stderr, "core WebAssembly module, not a component");
}

#[test]
fn a_component_for_another_world() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.wasm");
    let component = r#"
        (component
          (core module $m (func (export "hello")))
          (core instance $i (instantiate $m))
          (func $f (canon lift (core func $i "hello")))
          (export "hello" (func $f)))
    "#;
    std::fs::write(&path, wat::parse_str(component).unwrap()).unwrap();
    let (out, _, stderr) = eval_file(&default_task(), &path);
    assert_clean_error(&out, &stderr, "run");
}

#[test]
fn a_missing_wasm_file() {
    let (out, _, stderr) = eval_file(&default_task(), Path::new("/nonexistent/strategy.wasm"));
    assert_clean_error(&out, &stderr, "/nonexistent/strategy.wasm");
}

fn broken_copy(
    name: &str,
    breakage: impl FnOnce(&Path),
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join(name);
    copy_dir(&default_task(), &task);
    breakage(&task);
    (dir, task)
}

#[test]
fn a_bundle_with_a_wrong_hash() {
    let (_d, task) = broken_copy("bad-hash", |t| {
        let path = t.join("heldout/test.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    });
    let (out, _, stderr) = run(w2s().args(["task", "check"]).arg(&task));
    assert_clean_error(
        &out,
        &stderr,
        "sha256 mismatch for heldout/test.safetensors",
    );
}

#[test]
fn a_bundle_with_a_missing_file() {
    let (_d, task) = broken_copy("missing", |t| {
        std::fs::remove_file(t.join("public/pool.safetensors")).unwrap()
    });
    let (out, _, stderr) = run(w2s().args(["task", "check"]).arg(&task));
    assert_clean_error(&out, &stderr, "missing file public/pool.safetensors");
    // The sandboxed run refuses it too, before any guest code runs.
    let (out, _, stderr) = eval_file(&task, &crate::helpers::plugin("vanilla"));
    assert_clean_error(&out, &stderr, "missing file public/pool.safetensors");
}

#[test]
fn a_bundle_with_a_shape_mismatch() {
    let (_d, task) = broken_copy("shape", |t| {
        let manifest = t.join("task.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let text = text.replace("feature_dim = 64", "feature_dim = 65");
        std::fs::write(&manifest, text).unwrap();
    });
    let (out, _, stderr) = run(w2s().args(["task", "check"]).arg(&task));
    assert_clean_error(
        &out,
        &stderr,
        "public/pool.safetensors:features has shape [6000, 64], expected [6000, 65]",
    );
}

#[test]
fn a_bundle_with_an_unknown_manifest_field() {
    let (_d, task) = broken_copy("unknown-field", |t| {
        let manifest = t.join("task.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("surprise = 1\n{text}")).unwrap();
    });
    let (out, _, stderr) = run(w2s().args(["task", "check"]).arg(&task));
    assert_clean_error(&out, &stderr, "surprise");
}

#[test]
fn a_good_bundle_checks_clean() {
    let (out, stdout, stderr) = run(w2s().args(["task", "check"]).arg(default_task()));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("ok:"), "{stdout}");
}
