//! Task families (`w2s task synth --family`): each generates a bundle that
//! `w2s task check` accepts, records its family in the manifest, and the
//! default family keeps the default task's bytes. The failure modes
//! themselves are measured in `train/src/synth/family.rs`'s tests.

use crate::helpers::{default_task, run, w2s};

fn task_hash(dir: &std::path::Path) -> String {
    let (out, stdout, stderr) = run(w2s().args(["task", "check"]).arg(dir));
    assert!(out.status.success(), "task check failed: {stderr}");
    let start = stdout.find("task hash ").unwrap() + "task hash ".len();
    stdout[start..start + 64].to_owned()
}

#[test]
fn every_family_generates_a_bundle_that_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    for family in ["latent", "label-noise", "slice-errors", "spurious-cue"] {
        let config = format!(
            r#"{{"name":"small-{family}","seed":4,"pool":300,"test":300,"teacher_train":600,"classes":4,"feature_dim":64,"latent":8,"concept_width":32,"strong_noise":0.1,"weak_visible":8,"weak_noise":0.3,"family":"{family}"}}"#
        );
        let out_dir = dir.path().join(family);
        let (out, stdout, stderr) = run(w2s()
            .args(["task", "synth", "--config-json", &config, "--out"])
            .arg(&out_dir));
        assert!(out.status.success(), "{family}: {stderr}");
        assert!(stdout.contains(&format!("({family} family,")), "{stdout}");
        task_hash(&out_dir);
        let manifest = std::fs::read_to_string(out_dir.join("task.toml")).unwrap();
        // The default family is left out of the recorded config.
        assert_eq!(
            manifest.contains(&format!(r#""family":"{family}""#)),
            family != "latent",
            "{manifest}"
        );
    }
}

#[test]
fn the_family_flag_names_the_task_and_prints_the_failure_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("t");
    let (out, stdout, stderr) = run(w2s()
        .args([
            "task",
            "synth",
            "--family",
            "slice-errors",
            "--seed",
            "2",
            "--out",
        ])
        .arg(&out_dir));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("teacher test accuracy in-slice"),
        "{stdout}"
    );
    assert!(
        stdout.contains("teacher test accuracy off-slice"),
        "{stdout}"
    );
    task_hash(&out_dir);
    let manifest = std::fs::read_to_string(out_dir.join("task.toml")).unwrap();
    assert!(
        manifest.contains("name = \"synth-slice-errors\""),
        "{manifest}"
    );
}

#[test]
fn family_default_is_the_default_task_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("t");
    let (out, _, stderr) = run(w2s()
        .args(["task", "synth", "--family", "default", "--out"])
        .arg(&out_dir));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(task_hash(&out_dir), task_hash(&default_task()));
}

#[test]
fn an_unknown_family_is_refused_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(w2s()
        .args(["task", "synth", "--family", "noisy", "--out"])
        .arg(dir.path().join("t")));
    assert!(!out.status.success());
    assert!(
        stderr.contains("label-noise") && stderr.contains("spurious-cue"),
        "{stderr}"
    );
}
