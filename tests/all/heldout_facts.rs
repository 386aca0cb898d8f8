//! Nothing a guest can read derives from the held-out test split (issue
//! 18, fix 2). Two tasks are built from the same models and the same
//! labeled and pool rows; the first also has, in its test split, a text
//! far longer than any pool text. Everything the host serves a guest from
//! (the public view: name, classes, pool size, features, weak labels, the
//! `[lm]` facts behind `lm.model()`, the tokenized pool behind
//! `train-step-flops` and every `lm-lora` call, the backbone's config) must
//! be the same for both. Before the fix, `max_seq_len` (`lm.model()`'s
//! `max-seq-len`) was the longest text over the pool *and the test split*.

use std::path::{Path, PathBuf};

use candle_core::Device;
use w2s_lm::Family;
use w2s_lm::random_model::RandomModel;
use w2s_train::bundle::PublicTask;

use crate::helpers::task_build;

/// One aar-chat row; `long` makes its prompt about 400 characters (each
/// byte one token or more for the tiny byte-level tokenizer).
fn row(i: usize, long: bool) -> String {
    let label = if i.is_multiple_of(3) { "A" } else { "B" };
    let prompt = if long {
        "a very long held-out question ".repeat(14)
    } else {
        format!("q{}", i % 7)
    };
    format!(
        r#"{{"prompt":"{prompt}","first":"it is {i}","second":"ok","label":"{label}","subset":"s"}}"#
    )
}

/// `w2s task build` on 24 labeled, 32 pool and 16 (+1 long) test rows,
/// with `d/strong` (a directory) or `strong` as the strong model.
fn build(d: &Path, name: &str, with_long_test_row: bool) -> PathBuf {
    build_with(d, &d.join("strong"), name, with_long_test_row)
}

fn build_with(d: &Path, strong: &Path, name: &str, with_long_test_row: bool) -> PathBuf {
    let data = d.join(format!("{name}-data"));
    std::fs::create_dir_all(&data).unwrap();
    let lines = |r: std::ops::Range<usize>| r.map(|i| row(i, false)).collect::<Vec<_>>();
    std::fs::write(data.join("train_label.jsonl"), lines(0..24).join("\n")).unwrap();
    std::fs::write(data.join("train_unlabel.jsonl"), lines(24..56).join("\n")).unwrap();
    let mut test = lines(56..72);
    if with_long_test_row {
        test.insert(5, row(99, true));
    }
    std::fs::write(data.join("test.jsonl"), test.join("\n")).unwrap();
    let task = d.join(name);
    task_build(
        "aar-chat",
        &data,
        [strong, &d.join("weak")],
        &[
            "--layer",
            "2",
            "--weak-layer",
            "0",
            "--no-cache",
            "--name",
            "same-name",
        ],
        &task,
    );
    task
}

#[test]
fn a_long_test_text_changes_nothing_a_guest_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    RandomModel::tiny(Family::Qwen2)
        .write(&d.join("strong"), 11)
        .unwrap();
    RandomModel::tiny(Family::Llama)
        .write(&d.join("weak"), 12)
        .unwrap();
    let with = build(d, "with", true);
    let without = build(d, "without", false);
    let a = PublicTask::open(&with, &Device::Cpu).unwrap();
    let b = PublicTask::open(&without, &Device::Cpu).unwrap();

    // The held-out split did differ, and its long row was the longest text.
    assert_eq!(a.manifest.splits.test, b.manifest.splits.test + 1);
    let (la, lb) = (
        a.manifest.lm.clone().unwrap(),
        b.manifest.lm.clone().unwrap(),
    );
    let long_tokens = w2s_lm::ModelDir::open(&d.join("strong"), 4096)
        .unwrap()
        .tokenizer
        .encode_all(&["a very long held-out question ".repeat(14).as_str()])
        .unwrap()[0]
        .len();
    assert!(
        long_tokens > la.max_seq_len as usize,
        "the long test text ({long_tokens} tokens) must be longer than every pool text ({})",
        la.max_seq_len
    );

    // `task.*`: name, classes, pool size, feature dim, weak labels.
    assert_eq!(a.manifest.name, b.manifest.name);
    assert_eq!(a.manifest.classes, b.manifest.classes);
    assert_eq!(a.manifest.splits.pool, b.manifest.splits.pool);
    assert_eq!(a.manifest.feature_dim, b.manifest.feature_dim);
    assert_eq!(a.weak_probs, b.weak_probs);
    // The features (`predict`, `hidden`, `forward` of heads read them).
    // Known and not yet fixed: they agree only to rounding (about 1e-6),
    // because the extraction batches pool and test texts together, so a
    // test text changes the pool rows' floating-point sums; no value
    // carries more than that.
    let fa = a.features.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let fb = b.features.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(fa.len(), fb.len());
    let worst = fa
        .iter()
        .zip(&fb)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "features differ by {worst}");
    // `lm.model()` and the bundle facts behind every lm-lora call.
    assert_eq!(la.max_seq_len, lb.max_seq_len, "max-seq-len");
    assert_eq!(la.label_tokens, lb.label_tokens);
    assert_eq!(la.label_token_ids, lb.label_token_ids);
    assert_eq!(la.model, lb.model);
    assert_eq!(la.model_files, lb.model_files);
    assert_eq!(la.ceiling, lb.ceiling);
    assert_eq!(a.pool_tokens, b.pool_tokens, "the tokenized pool");
    let (ca, cb) = (
        a.backbone.as_ref().unwrap().config(),
        b.backbone.as_ref().unwrap().config(),
    );
    assert_eq!(format!("{ca:?}"), format!("{cb:?}"));
    assert_eq!(
        a.backbone.as_ref().unwrap().projection_params(),
        b.backbone.as_ref().unwrap().projection_params()
    );
}

/// The same with a GGUF strong model, whose tokenizer is rebuilt from its
/// metadata: the long test row is truncated with that tokenizer (there is
/// no tokenizer.json beside a GGUF to open again; a build on real tweets
/// failed here before), and the public facts stay the same.
#[test]
fn a_long_test_text_is_truncated_with_a_gguf_strong_model_too() {
    use w2s_lm::gguf::writer::{GgufSpec, write_gguf};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gguf = d.join("strong.gguf");
    write_gguf(
        &RandomModel::tiny(Family::Qwen2),
        11,
        &GgufSpec::default(),
        &gguf,
    )
    .unwrap();
    RandomModel::tiny(Family::Llama)
        .write(&d.join("weak"), 12)
        .unwrap();
    let with = build_with(d, &gguf, "with", true);
    let without = build_with(d, &gguf, "without", false);
    let lm = |t: &Path| {
        PublicTask::open(t, &Device::Cpu)
            .unwrap()
            .manifest
            .lm
            .expect("an [lm] section")
    };
    assert_eq!(lm(&with).max_seq_len, lm(&without).max_seq_len);
}
