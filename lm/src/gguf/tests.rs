//! A GGUF of a random model against the Hugging Face directory of the same
//! weights, and one test per kind of bad file.

use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::GgmlDType;

use super::writer::{GgufSpec, write_gguf};
use crate::extract::extract;
use crate::random_model::RandomModel;
use crate::{Family, ModelDir, Pooling};

const SEED: u64 = 3;
const TEXTS: [&str; 3] = ["hello there", "a longer text, with punctuation!", "é 😀 42"];

fn write_both(family: Family, spec: &GgufSpec, root: &Path) -> (PathBuf, PathBuf) {
    let model = RandomModel::tiny(family);
    let dir = root.join("hf");
    model.write(&dir, SEED).unwrap();
    let file = root.join("model.gguf");
    write_gguf(&model, SEED, spec, &file).unwrap();
    (dir, file)
}

fn features(model: &ModelDir, layer: usize) -> Vec<f32> {
    let decoder = model.decoder(layer, &Device::Cpu).unwrap();
    extract(
        &decoder,
        &model.tokenizer,
        &TEXTS,
        Pooling::Mean,
        2,
        &mut |_| {},
    )
    .unwrap()
    .0
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn an_f32_gguf_gives_the_hidden_states_of_its_safetensors_directory() {
    // Mistral is permuted by the converter (the Llama path), Qwen2 has
    // q/k/v biases, Qwen3 q/k norms and an explicit head width. (The tiny
    // Llama uses Llama 3.1 RoPE scaling, which a GGUF stores as
    // rope_freqs.weight: refused, see below.)
    for family in [Family::Mistral, Family::Qwen2, Family::Qwen3] {
        let root = tempfile::tempdir().unwrap();
        let (dir, file) = write_both(family, &GgufSpec::default(), root.path());
        let hf = ModelDir::open(&dir, 64).unwrap();
        let gguf = ModelDir::open(&file, 64).unwrap();
        // The GGUF stores epsilon as f32, and no sliding window.
        let mut want = hf.config.clone();
        assert!((gguf.config.rms_norm_eps - want.rms_norm_eps).abs() < 1e-12);
        want.rms_norm_eps = gguf.config.rms_norm_eps;
        want.sliding_window = None;
        assert_eq!(gguf.config, want, "{family}");
        let ids = |m: &ModelDir| -> Vec<Vec<u32>> {
            let enc = m.tokenizer.encode_all(&TEXTS).unwrap();
            enc.iter().map(|e| e.get_ids().to_vec()).collect()
        };
        assert_eq!(ids(&hf), ids(&gguf), "{family}");
        for layer in [1, hf.config.num_layers] {
            let d = max_diff(&features(&hf, layer), &features(&gguf, layer));
            assert!(d < 1e-5, "{family} layer {layer}: {d}");
        }
        assert_eq!(
            gguf.quant_types().unwrap().keys().collect::<Vec<_>>(),
            ["F32"]
        );
        assert_eq!(gguf.file_hashes.keys().collect::<Vec<_>>(), ["model.gguf"]);
    }
}

#[test]
fn a_q8_0_gguf_is_dequantized_and_its_types_counted() {
    let root = tempfile::tempdir().unwrap();
    let spec = GgufSpec {
        quant: GgmlDType::Q8_0,
        ..GgufSpec::default()
    };
    let (dir, file) = write_both(Family::Qwen2, &spec, root.path());
    let hf = ModelDir::open(&dir, 64).unwrap();
    let gguf = ModelDir::open(&file, 64).unwrap();
    let types = gguf.quant_types().unwrap();
    // 3 layers of 7 matrices and the embedding; 2 norms per layer, 3
    // biases per layer and the final norm.
    assert_eq!(types.get("Q8_0"), Some(&22));
    assert_eq!(types.get("F32"), Some(&16));
    let (a, b) = (features(&hf, 3), features(&gguf, 3));
    let d = max_diff(&a, &b);
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
    // 8-bit blocks: close, not equal.
    assert!(d > 0.0 && d < 0.05 * scale, "{d} of {scale}");
}

fn open_err(path: &Path) -> String {
    match ModelDir::open(path, 64) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

fn tiny_gguf(root: &Path, spec: &GgufSpec) -> PathBuf {
    let file = root.join("m.gguf");
    write_gguf(&RandomModel::tiny(Family::Qwen2), SEED, spec, &file).unwrap();
    file
}

#[test]
fn a_truncated_gguf_names_the_tensor_it_cuts() {
    let root = tempfile::tempdir().unwrap();
    let file = tiny_gguf(root.path(), &GgufSpec::default());
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
    let e = open_err(&file);
    assert!(
        e.contains("GGUF: tensor ") && e.contains("truncated?"),
        "{e}"
    );
    // Cut inside the header: the offset and what was being read.
    std::fs::write(&file, &bytes[..200]).unwrap();
    let e = open_err(&file);
    assert!(e.contains("offset ") && e.contains("truncated?"), "{e}");
}

#[test]
fn a_corrupt_gguf_names_the_offset() {
    let root = tempfile::tempdir().unwrap();
    let file = tiny_gguf(root.path(), &GgufSpec::default());
    let mut bytes = std::fs::read(&file).unwrap();
    // The first metadata key's length (after magic, version and the two
    // counts) set absurdly large.
    bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let e = open_err(&file);
    assert!(e.contains("offset 24: metadata key 0 has length"), "{e}");
    std::fs::write(&file, b"not a gguf at all").unwrap();
    assert!(open_err(&file).contains("not a GGUF file"));
}

#[test]
fn an_unsupported_quantization_type_is_named() {
    let root = tempfile::tempdir().unwrap();
    let file = tiny_gguf(root.path(), &GgufSpec::default());
    let mut bytes = std::fs::read(&file).unwrap();
    // The tensor info: name, n_dims (u32), dims (u64 each), type (u32).
    let name = b"blk.0.ffn_up.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let type_at = at + 4 + 2 * 8;
    bytes[type_at..type_at + 4].copy_from_slice(&20u32.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let model = ModelDir::open(&file, 64).unwrap();
    assert_eq!(model.quant_types().unwrap().get("IQ4_NL"), Some(&1));
    let e = model.decoder(1, &Device::Cpu).unwrap_err().to_string();
    assert!(
        e.contains(
            "tensor blk.0.ffn_up.weight is stored as IQ4_NL, a type this crate cannot dequantize"
        ),
        "{e}"
    );
}

#[test]
fn an_unsupported_architecture_is_named() {
    let root = tempfile::tempdir().unwrap();
    let spec = GgufSpec {
        architecture: Some("gpt2".into()),
        ..GgufSpec::default()
    };
    let e = open_err(&tiny_gguf(root.path(), &spec));
    assert!(
        e.contains("general.architecture \"gpt2\" is not supported (llama, mistral, qwen2, qwen3)"),
        "{e}"
    );
}

#[test]
fn a_gguf_without_tokenizer_metadata_asks_for_a_tokenizer_json() {
    let root = tempfile::tempdir().unwrap();
    let spec = GgufSpec {
        tokenizer: false,
        ..GgufSpec::default()
    };
    let file = tiny_gguf(root.path(), &spec);
    let e = open_err(&file);
    assert!(
        e.contains("no tokenizer metadata") && e.contains("--tokenizer"),
        "{e}"
    );
    // With the model's tokenizer.json given, it opens, and that file is
    // hashed with the weights.
    let dir = root.path().join("hf");
    RandomModel::tiny(Family::Qwen2).write(&dir, SEED).unwrap();
    let tok = dir.join("tokenizer.json");
    let model = ModelDir::open_with(&file, Some(&tok), 64).unwrap();
    assert_eq!(
        model.file_hashes.keys().collect::<Vec<_>>(),
        ["m.gguf", "tokenizer.json"]
    );
    assert!(ModelDir::open_with(&dir, Some(&tok), 64).is_err());
}
