//! `w2s task build` end to end on tiny random models: the bundle, the
//! activation cache, and one test per kind of bad input.

use std::path::{Path, PathBuf};

use candle_core::Device;
use w2s_lm::Family;
use w2s_lm::random_model::RandomModel;
use w2s_taskbuild::cache::CacheStatus;
use w2s_taskbuild::dataset::{Format, SplitRule};
use w2s_taskbuild::probe::ProbeSettings;
use w2s_taskbuild::{BuildConfig, BuildError, BuildSummary, FeatureScaling, build};

struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    /// A Qwen3 strong model, a Llama weak model, an AAR chat directory
    /// whose label is told by the last word of the second answer.
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        RandomModel::tiny(Family::Qwen3)
            .write(&root.path().join("strong"), 1)
            .unwrap();
        RandomModel::tiny(Family::Llama)
            .write(&root.path().join("weak"), 2)
            .unwrap();
        let chat = root.path().join("chat");
        std::fs::create_dir_all(&chat).unwrap();
        let row = |i: usize, subset: Option<&str>| {
            let label = if i.is_multiple_of(3) { "A" } else { "B" };
            let end = if label == "A" { "worse" } else { "better" };
            let subset = subset
                .map(|s| format!(r#","subset":"{s}""#))
                .unwrap_or_default();
            format!(
                r#"{{"prompt":"question {i}?","first":"answer {}","second":"it is {end}","label":"{label}"{subset}}}"#,
                i * 7 % 11
            )
        };
        let lines = |range: std::ops::Range<usize>, subsets: bool| {
            range
                .map(|i| {
                    row(
                        i,
                        subsets.then_some(if i.is_multiple_of(2) {
                            "helpsteer2_val"
                        } else {
                            "reward_bench_2"
                        }),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        std::fs::write(chat.join("train_label.jsonl"), lines(0..48, false)).unwrap();
        std::fs::write(chat.join("train_unlabel.jsonl"), lines(48..120, false)).unwrap();
        std::fs::write(chat.join("test.jsonl"), lines(120..160, true)).unwrap();
        Self { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn config(&self, out: &str) -> BuildConfig {
        BuildConfig {
            data: self.path("chat"),
            format: Format::AarChat,
            split_rule: SplitRule::default(),
            classes: None,
            dataset_revision: Some("test-rev".into()),
            strong: self.path("strong"),
            weak: self.path("weak"),
            strong_tokenizer: None,
            weak_tokenizer: None,
            strong_name: None,
            weak_name: None,
            layer: None,
            weak_layer: None,
            pooling: w2s_lm::Pooling::LastToken,
            max_tokens: 64,
            batch_size: 8,
            cache_dir: Some(self.path("cache")),
            probe: ProbeSettings::default(),
            scaling: FeatureScaling::Standardize,
            seed: 3,
            name: None,
            out: self.path(out),
            lora_ceiling: None,
        }
    }

    fn build(&self, cfg: &BuildConfig) -> Result<BuildSummary, BuildError> {
        build(cfg, &Device::Cpu, &mut |_, _| {})
    }

    /// Builds and expects an error containing `needle`, with no bundle and
    /// no partial directory left behind.
    fn fails(&self, cfg: &BuildConfig, needle: &str) {
        let err = self.build(cfg).unwrap_err().to_string();
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert!(
            !cfg.out.exists(),
            "a failed build left {}",
            cfg.out.display()
        );
        let leftovers: Vec<_> = std::fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn builds_an_aar_chat_bundle_whose_subsets_stay_held_out() {
    let f = Fixture::new();
    let cfg = f.config("task");
    let s = f.build(&cfg).unwrap();
    assert_eq!(s.sizes, [48, 72, 40]);
    assert_eq!((s.classes, s.feature_dim, s.test_subsets), (2, 32, 2));
    // Qwen3 tiny has 3 layers (middle 1), Llama tiny too.
    assert_eq!((s.strong.layer, s.weak.layer), (1, 1));
    assert_eq!(s.strong.cache, CacheStatus::Miss);
    assert!(s.strong.tokens_run > 0);
    let manifest = read(&cfg.out.join("task.toml"));
    for key in [
        "strong_files_sha256",
        "weak_files_sha256",
        "dataset_sha256",
        "dataset_revision = \"test-rev\"",
        "strong_layer = \"1 of 3\"",
        "pooling = \"last-token\"",
        "weak_probe = ",
        "heldout/test_subsets.json",
    ] {
        assert!(manifest.contains(key), "{key} missing from\n{manifest}");
    }
    // The subset names appear under heldout/ only.
    let public = std::fs::read(cfg.out.join("public/pool.safetensors")).unwrap();
    for name in ["helpsteer2_val", "reward_bench_2"] {
        assert!(!manifest.contains(name));
        assert!(!public.windows(name.len()).any(|w| w == name.as_bytes()));
        assert!(read(&cfg.out.join("heldout/test_subsets.json")).contains(name));
    }
    let check = w2s_scorer::check::check_bundle(&cfg.out).unwrap();
    assert_eq!((check.pool, check.test, check.test_subsets), (72, 40, 2));
    assert_eq!(check.weak_acc, s.weak_test_acc);
    assert!(w2s_train::bundle::PublicTask::open(&cfg.out, &Device::Cpu).is_ok());
}

#[test]
fn a_second_build_with_another_probe_setting_runs_no_model() {
    let f = Fixture::new();
    let first = f.build(&f.config("a")).unwrap();
    let mut cfg = f.config("b");
    cfg.probe.learning_rate = 3e-2;
    cfg.probe.epochs = 10;
    let second = f.build(&cfg).unwrap();
    for run in [&second.strong, &second.weak] {
        assert_eq!((&run.cache, run.tokens_run), (&CacheStatus::Hit, 0));
    }
    // The same features, another teacher.
    let pool = |d: &str| std::fs::read(f.path(d).join("public/pool.safetensors")).unwrap();
    let features = |bytes: &[u8]| {
        let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
        (
            st.tensor("features").unwrap().data().to_vec(),
            st.tensor("weak_probs").unwrap().data().to_vec(),
        )
    };
    let (a, b) = (pool("a"), pool("b"));
    let ((fa, wa), (fb, wb)) = (features(&a), features(&b));
    assert_eq!(fa, fb);
    assert_ne!(wa, wb);
    assert_ne!(first.task_hash, second.task_hash);
}

#[test]
fn a_tampered_cache_entry_is_recomputed_not_trusted() {
    let f = Fixture::new();
    f.build(&f.config("a")).unwrap();
    for entry in std::fs::read_dir(f.path("cache")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "safetensors") {
            let mut bytes = std::fs::read(&p).unwrap();
            let n = bytes.len();
            bytes[n - 1] ^= 0x40;
            std::fs::write(&p, bytes).unwrap();
        }
    }
    let s = f.build(&f.config("b")).unwrap();
    let CacheStatus::Recomputed { reason } = &s.strong.cache else {
        panic!("{:?}", s.strong.cache);
    };
    assert!(reason.contains("corrupted or edited"), "{reason}");
    assert_eq!(
        std::fs::read(f.path("a/public/pool.safetensors")).unwrap(),
        std::fs::read(f.path("b/public/pool.safetensors")).unwrap(),
        "recomputed features are bit-identical"
    );
}

#[test]
fn a_generic_jsonl_builds_with_its_split_rule_and_mean_pooling() {
    let f = Fixture::new();
    let rows: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"text":"item {i} is {}","label":{}}}"#,
                ["red", "green", "blue"][i % 3],
                i % 3
            )
        })
        .collect();
    std::fs::write(f.path("data.jsonl"), rows.join("\n")).unwrap();
    let mut cfg = f.config("t");
    cfg.data = f.path("data.jsonl");
    cfg.format = Format::Jsonl;
    cfg.classes = Some(3);
    cfg.pooling = w2s_lm::Pooling::Mean;
    cfg.layer = Some(3);
    let s = f.build(&cfg).unwrap();
    assert_eq!(s.sizes.iter().sum::<usize>(), 200);
    assert_eq!((s.classes, s.test_subsets, s.strong.layer), (3, 0, 3));
    // The label is the last word: even a random model's features tell it.
    assert!(s.weak_test_acc > 0.6, "{}", s.weak_test_acc);
    assert!(
        read(&cfg.out.join("task.toml"))
            .contains("w2s-jsonl-split/v1 labeled=0.25,test=0.25 seed 3")
    );
}

#[test]
fn bad_input_missing_config() {
    let f = Fixture::new();
    std::fs::remove_file(f.path("weak/config.json")).unwrap();
    f.fails(&f.config("t"), "weak: config.json: missing");
}

#[test]
fn bad_input_unknown_architecture() {
    let f = Fixture::new();
    let p = f.path("strong/config.json");
    std::fs::write(&p, read(&p).replace("Qwen3ForCausalLM", "GPT2LMHeadModel")).unwrap();
    f.fails(&f.config("t"), "unknown architecture \"GPT2LMHeadModel\"");
}

#[test]
fn bad_input_tokenizer_of_another_model() {
    // The Qwen3 tokenizer (256 bytes + <|endoftext|>) in the Llama
    // directory, whose config names </s> = 257 as its eos.
    let f = Fixture::new();
    std::fs::copy(
        f.path("strong/tokenizer.json"),
        f.path("weak/tokenizer.json"),
    )
    .unwrap();
    f.fails(
        &f.config("t"),
        "weak: tokenizer.json: does not match the model: config.json names special token id 257",
    );
    // A tokenizer with more tokens than the embedding has rows.
    let f = Fixture::new();
    let p = f.path("strong/config.json");
    std::fs::write(
        &p,
        read(&p).replace("\"vocab_size\": 300", "\"vocab_size\": 200"),
    )
    .unwrap();
    f.fails(&f.config("t"), "tokenizer.json: does not match the model: it has 257 tokens, config.json's vocab_size is 200");
}

#[test]
fn bad_input_dataset_line_that_does_not_parse() {
    let f = Fixture::new();
    let p = f.path("chat/train_unlabel.jsonl");
    let mut lines: Vec<String> = read(&p).lines().map(str::to_owned).collect();
    lines[6] = "{\"prompt\": \"truncated".into();
    std::fs::write(&p, lines.join("\n")).unwrap();
    f.fails(&f.config("t"), "train_unlabel.jsonl line 7: not valid JSON");
}

#[test]
fn bad_input_label_outside_the_classes() {
    let f = Fixture::new();
    let p = f.path("chat/test.jsonl");
    let text = read(&p).replacen("\"label\":\"B\"", "\"label\":\"C\"", 1);
    std::fs::write(&p, text).unwrap();
    f.fails(
        &f.config("t"),
        "test.jsonl line 2: label \"C\" is not one of \"A\", \"B\"",
    );
}

#[test]
fn bad_input_empty_split() {
    let f = Fixture::new();
    std::fs::write(f.path("chat/train_label.jsonl"), "\n").unwrap();
    f.fails(
        &f.config("t"),
        "train_label.jsonl: no examples: the labeled split is empty",
    );
}

#[test]
fn bad_input_layer_out_of_range() {
    let f = Fixture::new();
    let mut cfg = f.config("t");
    cfg.layer = Some(4);
    f.fails(
        &cfg,
        "layer 4 is out of range: this qwen3 model has 3 layers, so 0..=3",
    );
}

/// A GGUF whose tokenizer cannot be rebuilt, given `--tokenizer`: the task
/// records that file (path and sha256), so that the `lm-lora` backbone
/// loads again at evaluation time from what the bundle says.
#[test]
fn a_gguf_built_with_a_given_tokenizer_loads_its_backbone_again() {
    use w2s_lm::gguf::writer::{GgufSpec, write_gguf};
    let f = Fixture::new();
    let gguf = f.path("strong.gguf");
    let spec = GgufSpec {
        tokenizer: false,
        ..GgufSpec::default()
    };
    write_gguf(&RandomModel::tiny(Family::Qwen2), 1, &spec, &gguf).unwrap();
    RandomModel::tiny(Family::Qwen2)
        .write(&f.path("qwen2"), 1)
        .unwrap();
    let tokenizer = f.path("qwen2/tokenizer.json");
    let mut cfg = f.config("task");
    cfg.strong = gguf;
    cfg.strong_tokenizer = Some(tokenizer.clone());
    f.build(&cfg).unwrap();
    let (manifest, _) = w2s_train::bundle::Manifest::read(&cfg.out).unwrap();
    let lm = manifest.lm.expect("an [lm] section");
    let canonical = std::fs::canonicalize(&tokenizer).unwrap();
    assert_eq!(lm.tokenizer.as_deref(), canonical.to_str());
    assert!(lm.model_files.contains_key("tokenizer.json"), "{lm:?}");
    lm.load_backbone(None, &Device::Cpu).unwrap();
    // Without it, the same GGUF cannot be opened: the error says why.
    let bare = w2s_train::lora_tokens::LmSection {
        tokenizer: None,
        ..lm
    };
    let err = bare
        .load_backbone(None, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tokenizer metadata"), "{err}");
}
