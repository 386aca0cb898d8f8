//! Tests of `lm-lora` students on a tiny random Qwen2 (3 blocks, hidden
//! 32): the fresh student is the backbone, gradients against central
//! finite differences in f64, determinism, metering, checkpoints.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use w2s_lm::lora::Target;
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, ModelDir};

use super::*;
use crate::lora::tokens::TokenSet;
use crate::optim::OptimizerConfig;

fn backbone(dir: &std::path::Path) -> Backbone {
    RandomModel::tiny(Family::Qwen2).write(dir, 7).unwrap();
    let model = ModelDir::open(dir, 64).unwrap();
    let decoder = model
        .decoder(model.config.num_layers, &Device::Cpu)
        .unwrap();
    let rows = decoder.output_rows(model.weights(), &[65, 66]).unwrap();
    Backbone::new(decoder, rows).unwrap()
}

fn spec(readout: Readout) -> LoraSpec {
    LoraSpec {
        rank: 2,
        alpha: 4.0,
        rslora: true,
        targets: Target::ALL.to_vec(),
        layers: vec![0, 2],
        readout,
    }
}

fn tokens() -> TokenSet {
    TokenSet::from_sequences(&[vec![10, 20, 30, 40], vec![50, 60], vec![70, 80, 90]], 6).unwrap()
}

fn batch_inputs(dtype: DType) -> (TokenBatch, Tensor, Tensor) {
    let dev = Device::Cpu;
    let t = Tensor::new(&[[0.9f32, 0.1], [0.2, 0.8], [0.5, 0.5]], &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let w = Tensor::new(&[1.0f32, 0.5, 2.0], &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    (tokens().batch(&[0, 1, 2]), t, w)
}

/// Gives every `B` (zero after init) seeded values so that `A` gets a
/// gradient too.
fn with_nonzero_b(s: &LoraStudent, seed: u64) -> LoraStudent {
    let mut rng = Rng::for_stream(seed, "test-b");
    let params = s
        .params()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 1 && i < 2 * s.spec.targets.len() * s.spec.layers.len() {
                let v: Vec<f64> = (0..p.elem_count())
                    .map(|_| (rng.uniform() * 2.0 - 1.0) * 0.3)
                    .collect();
                Tensor::from_vec(v, p.dims(), p.device())
                    .unwrap()
                    .to_dtype(p.dtype())
                    .unwrap()
            } else {
                p.clone()
            }
        })
        .collect();
    LoraStudent::from_params(s.backbone.clone(), s.spec.clone(), params).unwrap()
}

#[test]
fn a_fresh_student_computes_the_backbone() {
    let tmp = tempfile::tempdir().unwrap();
    let bb = Arc::new(backbone(tmp.path()));
    let s = LoraStudent::init(bb.clone(), spec(Readout::LabelTokens), 3).unwrap();
    // B = 0: the adapters add nothing.
    for p in s.params().iter().skip(1).step_by(2) {
        assert!(
            p.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|&v| v == 0.0)
        );
    }
    let (batch, _, _) = batch_inputs(DType::F32);
    let (logits, _) = s.forward(&batch).unwrap();
    let states = bb
        .decoder
        .hidden_states(batch.ids(), batch.mask(), 3, batch.seq())
        .unwrap();
    for (r, &len) in batch.lens().iter().enumerate() {
        let h = states.get(r).unwrap().get(len as usize - 1).unwrap();
        let want = bb.label_rows.matmul(&h.unsqueeze(1).unwrap()).unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let got = logits.get(r).unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
    // The same seed gives the same adapters; another seed other ones.
    let again = LoraStudent::init(bb.clone(), spec(Readout::LabelTokens), 3).unwrap();
    let other = LoraStudent::init(bb, spec(Readout::LabelTokens), 4).unwrap();
    let v = |s: &LoraStudent| {
        s.params()[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(v(&s), v(&again));
    assert_ne!(v(&s), v(&other));
}

/// Central differences in f64 (step 1e-5) against candle's autograd, on
/// every parameter value of both readouts.
#[test]
fn gradients_match_finite_differences_in_f64() {
    let tmp = tempfile::tempdir().unwrap();
    let bb = Arc::new(backbone(tmp.path()).to_dtype(DType::F64).unwrap());
    let (batch, t, w) = batch_inputs(DType::F64);
    for readout in [Readout::LabelTokens, Readout::LinearHead] {
        let s = with_nonzero_b(&LoraStudent::init(bb.clone(), spec(readout), 5).unwrap(), 9);
        let (_, grads) = s.loss_and_gradients(&batch, &t, &w).unwrap();
        let loss_at = |params: Vec<Tensor>| -> f64 {
            let s = LoraStudent::from_params(bb.clone(), s.spec.clone(), params).unwrap();
            let (logits, _) = s.forward(&batch).unwrap();
            weighted_soft_ce(&logits, &t, &w)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let eps = 1e-5;
        let mut worst = 0f64;
        for (pi, p) in s.params().iter().enumerate() {
            let base = p.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let g = grads[pi].flatten_all().unwrap().to_vec1::<f64>().unwrap();
            // Every value of small tensors, every 7th of large ones.
            let stride = if base.len() > 200 { 7 } else { 1 };
            for k in (0..base.len()).step_by(stride) {
                let shifted = |d: f64| {
                    let mut params = s.params().to_vec();
                    let mut v = base.clone();
                    v[k] += d;
                    params[pi] = Tensor::from_vec(v, p.dims(), p.device()).unwrap();
                    loss_at(params)
                };
                let fd = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
                let err = (fd - g[k]).abs() / (1e-4 + fd.abs().max(g[k].abs()));
                worst = worst.max(err);
                assert!(
                    err < 1e-5,
                    "{readout:?} param {pi}[{k}]: autograd {} vs fd {fd}",
                    g[k]
                );
            }
        }
        assert!(worst.is_finite());
        println!("{readout:?}: worst relative error of autograd vs finite differences {worst:e}");
    }
}

#[test]
fn train_steps_are_deterministic_and_lower_the_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let bb = Arc::new(backbone(tmp.path()));
    let (batch, t, w) = batch_inputs(DType::F32);
    let run = || {
        let mut s = LoraStudent::init(bb.clone(), spec(Readout::LinearHead), 1).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::adamw(1e-2)).unwrap();
        let losses: Vec<f32> = (0..8)
            .map(|_| s.train_step(&mut opt, &batch, &t, &w).unwrap())
            .collect();
        (
            losses,
            s.params()[0]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
        )
    };
    let (a, pa) = run();
    let (b, pb) = run();
    assert_eq!(a, b, "bit-identical losses");
    assert_eq!(pa, pb, "bit-identical adapters");
    assert!(a[7] < a[0], "loss went from {} to {}", a[0], a[7]);
}

/// The charge counts every matrix product the forward runs, from the
/// model's shapes (independently of `forward_flops`' own arithmetic), at
/// the padded length; a step is charged three forwards.
#[test]
fn charges_cover_every_product_at_the_padded_length() {
    let tmp = tempfile::tempdir().unwrap();
    let bb = backbone(tmp.path());
    let c = bb.config().clone();
    let sp = spec(Readout::LabelTokens);
    let (rows, seq) = (3usize, 4usize);
    let tokens = (rows * seq) as u64;
    let (h, i, q, kv) = (
        c.hidden_size as u64,
        c.intermediate_size as u64,
        (c.num_heads * c.head_dim) as u64,
        (c.num_kv_heads * c.head_dim) as u64,
    );
    let dense = 2 * tokens * (h * q + 2 * h * kv + q * h + 3 * h * i) * c.num_layers as u64;
    let scores = 2 * 2 * rows as u64 * (seq * seq) as u64 * q * c.num_layers as u64;
    let r = u64::from(sp.rank);
    let lora = 2 * tokens * r * ((h + q) + 2 * (h + kv) + (q + h) + 3 * (h + i)) * 2;
    let exact = dense + scores + lora;
    let charged = bb.forward_flops(&sp, rows, seq);
    assert!(charged >= exact, "{charged} < {exact}");
    assert!(charged < 3 * exact, "{charged} is far above {exact}");
    assert!(bb.train_step_flops(&sp, rows, seq) >= 3 * exact);
    // One long row makes the whole batch pay for its length.
    let set = tokens_with_long_row();
    assert_eq!(set.padded_len(&[0, 1]), 6);
    assert_eq!(set.batch(&[0, 1]).seq(), 6);
}

fn tokens_with_long_row() -> TokenSet {
    TokenSet::from_sequences(&[vec![1], vec![1, 2, 3, 4, 5, 6]], 6).unwrap()
}

#[test]
fn checkpoints_round_trip_and_name_their_model() {
    let tmp = tempfile::tempdir().unwrap();
    let bb = Arc::new(backbone(tmp.path()));
    let s = with_nonzero_b(
        &LoraStudent::init(bb.clone(), spec(Readout::LinearHead), 2).unwrap(),
        3,
    );
    let bytes = crate::checkpoint::lora_to_bytes(&s, "abc").unwrap();
    assert!(crate::checkpoint::is_lora(&bytes));
    let back = crate::checkpoint::lora_from_bytes(&bytes, bb.clone(), "abc").unwrap();
    for (a, b) in s.params().iter().zip(back.params()) {
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
    assert_eq!(back.spec(), s.spec());
    let e = crate::checkpoint::lora_from_bytes(&bytes, bb, "other").unwrap_err();
    assert!(e.to_string().contains("another strong model"), "{e}");
}

#[test]
fn specs_are_checked_against_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let bb = backbone(tmp.path());
    let c = bb.config();
    let bad = |f: fn(&mut LoraSpec)| {
        let mut s = spec(Readout::LabelTokens);
        f(&mut s);
        s.normalized(c).unwrap_err().to_string()
    };
    assert!(bad(|s| s.rank = 0).contains("rank"));
    assert!(bad(|s| s.layers = vec![3]).contains("outside 0..3"));
    assert!(bad(|s| s.targets = vec![Target::Q, Target::Q]).contains("repeated"));
    assert!(bad(|s| s.alpha = f32::NAN).contains("alpha"));
    assert!(bad(|s| s.targets.clear()).contains("at least one"));
    let mut s = spec(Readout::LabelTokens);
    s.layers = vec![2, 0];
    assert_eq!(s.normalized(c).unwrap().layers, vec![0, 2]);
}
