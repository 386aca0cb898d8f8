//! Writes the inputs of the LoRA reference check: the tiny random Qwen2
//! model (seed 7, the same bytes as `lm/reference`'s) into `DIR/qwen2`,
//! and one train step's inputs as JSON on stdout (spec, token rows,
//! targets, weights, the adapters' initial values: `A` from
//! `LoraStudent::init`, `B` drawn nonzero so that `A` gets a gradient).
//!
//! ```sh
//! cargo run -p w2s-train --example write_lora_case -- /tmp/lora-case > /tmp/lora-case/case.json
//! python3 lm/reference/make_lora_reference.py /tmp/lora-case > lm/reference/lora_expected.json
//! ```
//!
//! `train/tests/lora_reference.rs` reads the result.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use serde_json::json;
use w2s_lm::lora::Target;
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, ModelDir};
use w2s_train::lora::{Backbone, LoraSpec, LoraStudent, Readout};
use w2s_train::lora_tokens::TokenSet;
use w2s_train::rng::Rng;

const TEXTS: [&str; 3] = [
    "Is 2 + 2 = 4? Answer:",
    "Hi:",
    "Sky is green. True or False?",
];
const LABELS: [u32; 2] = [b'A' as u32, b'B' as u32];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: write_lora_case DIR")?;
    let dir = std::path::Path::new(&root).join("qwen2");
    RandomModel::tiny(Family::Qwen2).write(&dir, 7)?;
    let model = ModelDir::open(&dir, 64)?;
    let seqs: Vec<Vec<u32>> = model
        .tokenizer
        .encode_all(&TEXTS)?
        .iter()
        .map(|e| e.get_ids().to_vec())
        .collect();
    let decoder = model.decoder(model.config.num_layers, &Device::Cpu)?;
    let rows = decoder.output_rows(model.weights(), &LABELS)?;
    let backbone = Arc::new(Backbone::new(decoder, rows)?);
    let spec = LoraSpec {
        rank: 4,
        alpha: 8.0,
        rslora: true,
        targets: Target::ALL.to_vec(),
        layers: vec![0, 2],
        readout: Readout::LabelTokens,
    };
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
    let case = json!({
        "model_seed": 7,
        "init_seed": 11,
        "spec": spec,
        "label_token_ids": LABELS,
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
    println!("{}", serde_json::to_string(&case)?);
    Ok(())
}
