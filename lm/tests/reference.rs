//! Our hidden states against Hugging Face `transformers`, on the tiny
//! random models of every family.
//!
//! The expected numbers, `lm/reference/expected.json`, were computed by
//! `lm/reference/make_reference.py` (transformers, torch, CPU, f32, eager
//! attention) on the models that `cargo run -p w2s-lm --example
//! write_tiny_models` writes; this test writes the same models (seed 7,
//! byte for byte: it checks the weight file's sha256 against the one the
//! script read) and requires every pooled state at every layer, and the
//! full states at layer 1, to be within 1e-4 of transformers'.

use std::path::Path;

use candle_core::Device;
use serde_json::Value;
use w2s_lm::extract::extract;
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, FrozenDecoder, ModelDir, Pooling};

const SEED: u64 = 7;
const TOLERANCE: f32 = 1e-4;

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number") as f32],
        other => panic!("not a number: {other}"),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_family(family: Family, expected: &Value, texts: &[&str], root: &Path) -> f32 {
    let dir = root.join(family.model_type());
    RandomModel::tiny(family).write(&dir, SEED).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let sha = sha256_hex(&weights);
    assert_eq!(
        sha,
        expected["weights_sha256"].as_str().unwrap(),
        "{family}: the tiny model generator changed; regenerate lm/reference/expected.json (see make_reference.py)"
    );
    let model = ModelDir::open(&dir, 64).unwrap();
    let ids: Vec<Vec<u32>> = model
        .tokenizer
        .encode_all(texts)
        .unwrap()
        .iter()
        .map(|e| e.get_ids().to_vec())
        .collect();
    let want_ids: Vec<Vec<u32>> = serde_json::from_value(expected["ids"].clone()).unwrap();
    assert_eq!(
        ids, want_ids,
        "{family}: token ids differ from the tokenizers library's"
    );
    let mut worst = 0f32;
    for layer in expected["layers"].as_array().unwrap() {
        let l = layer["layer"].as_u64().unwrap() as usize;
        let decoder = model.decoder(l, &Device::Cpu).unwrap();
        for (pooling, key) in [(Pooling::LastToken, "last_token"), (Pooling::Mean, "mean")] {
            // Batches of 2: one batch pads, the other runs alone.
            let (ours, _) =
                extract(&decoder, &model.tokenizer, texts, pooling, 2, &mut |_| {}).unwrap();
            let d = max_diff(&ours, &floats(&layer[key]));
            assert!(d <= TOLERANCE, "{family} layer {l} {key}: max abs diff {d}");
            worst = worst.max(d);
        }
        // The frozen forward (what `task build` runs on the CPU).
        let frozen = FrozenDecoder::load(model.weights(), &model.config, l).unwrap();
        for (pooling, key) in [(Pooling::LastToken, "last_token"), (Pooling::Mean, "mean")] {
            let (ours, _) =
                extract(&frozen, &model.tokenizer, texts, pooling, 2, &mut |_| {}).unwrap();
            let d = max_diff(&ours, &floats(&layer[key]));
            assert!(
                d <= TOLERANCE,
                "{family} layer {l} {key} (frozen): max abs diff {d}"
            );
            worst = worst.max(d);
        }
    }
    let full_layer = expected["full_layer"].as_u64().unwrap() as usize;
    let text = expected["full_text"].as_u64().unwrap() as usize;
    let decoder = model.decoder(full_layer, &Device::Cpu).unwrap();
    let enc = model.tokenizer.encode_all(texts).unwrap();
    let batch = model.tokenizer.pad(&enc).unwrap();
    let hidden = decoder
        .hidden_states(&batch.ids, &batch.mask, batch.batch, batch.seq)
        .unwrap();
    let row = hidden
        .get(text)
        .unwrap()
        .narrow(0, 0, batch.lens[text])
        .unwrap();
    let ours: Vec<f32> = row.flatten_all().unwrap().to_vec1().unwrap();
    let d = max_diff(&ours, &floats(&expected["full"]));
    assert!(
        d <= TOLERANCE,
        "{family} full states at layer {full_layer}: max abs diff {d}"
    );
    let frozen = FrozenDecoder::load(model.weights(), &model.config, full_layer).unwrap();
    let ours = frozen.hidden_states(&[enc[text].get_ids()]).unwrap();
    let d_frozen = max_diff(&ours, &floats(&expected["full"]));
    assert!(
        d_frozen <= TOLERANCE,
        "{family} full states at layer {full_layer} (frozen): max abs diff {d_frozen}"
    );
    worst.max(d).max(d_frozen)
}

/// sha256 of bytes, lowercase hex (the test's own, to keep the crate's
/// dependencies as they are).
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn hidden_states_match_transformers_on_every_family() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/expected.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let texts: Vec<&str> = doc["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let root = tempfile::tempdir().unwrap();
    for family in Family::ALL {
        let expected = &doc["families"][family.model_type()];
        let worst = check_family(family, expected, &texts, root.path());
        eprintln!(
            "{family}: max abs diff {worst:.3e} against transformers {}",
            doc["transformers"]
        );
    }
}
