//! `lm` and `lm-lora` students through the host functions, on a tiny
//! random Qwen2 task built in memory: policy refusals, metering (a step
//! costs exactly its precomputed charge, and a budget one FLOP short traps
//! before anything changes), and the `student` methods on these students.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use w2s_lm::random_model::RandomModel;
use w2s_lm::{Family, ModelDir};
use w2s_policy::Policy;
use w2s_train::bundle::{FormatV1, Manifest, PublicTask, Splits};
use w2s_train::lora::Backbone;
use w2s_train::lora_recipe::LoraRecipe;
use w2s_train::lora_tokens::{LmSection, TokenSet};

use super::*;
use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::student::{HostOptimizer, HostStudent};
use crate::imports::optimizer::adamw;
use crate::state::test_support::{borrow, host_state};

const POOL: usize = 6;

pub(super) fn lora_task(dir: &std::path::Path) -> Arc<PublicTask> {
    RandomModel::tiny(Family::Qwen2).write(dir, 7).unwrap();
    let model = ModelDir::open(dir, 32).unwrap();
    let decoder = model
        .decoder(model.config.num_layers, &Device::Cpu)
        .unwrap();
    let rows = decoder.output_rows(model.weights(), &[65, 66]).unwrap();
    let backbone = Backbone::new(decoder, rows).unwrap();
    let seqs: Vec<Vec<u32>> = (0..POOL).map(|i| vec![40 + i as u32; 2 + i]).collect();
    let section = LmSection {
        model: "tiny".into(),
        path: dir.display().to_string(),
        label_token_ids: vec![65, 66],
        label_tokens: vec!["A".into(), "B".into()],
        max_seq_len: 8,
        tokenizer: None,
        model_files: model.file_hashes.clone(),
        ceiling: LoraRecipe::aar_vanilla(3),
    };
    Arc::new(PublicTask {
        dir: PathBuf::from("unused"),
        manifest: Manifest {
            format_version: FormatV1,
            name: "tiny-lm".into(),
            classes: 2,
            feature_dim: 4,
            splits: Splits {
                pool: POOL as u32,
                test: 1,
            },
            files: BTreeMap::new(),
            provenance: BTreeMap::new(),
            lm: Some(section),
        },
        task_hash: "0".repeat(64),
        features: Tensor::zeros((POOL, 4), candle_core::DType::F32, &Device::Cpu).unwrap(),
        weak_probs: vec![0.5; POOL * 2],
        pool_tokens: Some(Arc::new(TokenSet::from_sequences(&seqs, 8).unwrap())),
        backbone: Some(Arc::new(backbone)),
    })
}

pub(super) fn policy(extra: &str) -> Policy {
    Policy::from_toml_str(&format!(
        "version = 1\n[students]\nallow = [{{ family = \"linear\" }}, {{ family = \"lm_lora\", max_rank = 4, layers = [1, 2] }}]\n{extra}"
    ))
    .unwrap()
}

pub(super) fn config(rank: u32, layers: Vec<u32>) -> lm::LoraConfig {
    lm::LoraConfig {
        rank,
        alpha: 8.0,
        rslora: true,
        targets: vec![lm::LoraTarget::Q, lm::LoraTarget::V, lm::LoraTarget::Down],
        layers,
        readout: lm::Readout::LabelTokens,
    }
}

#[test]
fn the_policy_bounds_lm_lora_students() {
    let tmp = tempfile::tempdir().unwrap();
    let task = lora_task(tmp.path());
    let (mut s, _) = host_state(Policy::default(), task.clone());
    let e = lm::Host::create_lora(&mut s, config(2, vec![1]), 1)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, wit::ErrorCode::NotAllowed);
    assert!(lm::Host::allowed_lora(&mut s).unwrap().is_none());
    let (mut s, _) = host_state(policy(""), task);
    let info = lm::Host::model(&mut s).unwrap().unwrap();
    assert_eq!((info.num_layers, info.label_tokens.len()), (3, 2));
    for (rank, layers) in [(5, vec![1]), (2, vec![0]), (2, vec![])] {
        let e = lm::Host::create_lora(&mut s, config(rank, layers.clone()), 1)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e.code,
            wit::ErrorCode::NotAllowed,
            "{rank} {layers:?}: {}",
            e.message
        );
    }
    let e = lm::Host::create_lora(&mut s, config(2, vec![1, 9]), 1)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, wit::ErrorCode::InvalidArgument, "{}", e.message);
    let a = lm::Host::create_lora(&mut s, config(4, vec![2, 1]), 1)
        .unwrap()
        .unwrap();
    let c = lm::Host::lora_config_of(&mut s, borrow(&a))
        .unwrap()
        .unwrap();
    assert_eq!(c.layers, vec![1, 2]);
    assert!(matches!(
        HostStudent::architecture(&mut s, borrow(&a)).unwrap(),
        wit::Arch::Linear
    ));
    assert_eq!(HostStudent::hidden_dim(&mut s, borrow(&a)).unwrap(), 32);
}

/// The charge is computed from the padded batch before the step runs: a
/// step costs exactly `train-step-flops`, whatever rows the guest picks,
/// and with one FLOP less left the step traps and changes nothing.
#[test]
fn a_step_costs_its_charge_and_a_short_budget_traps_before_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    let task = lora_task(tmp.path());
    let (mut s, _) = host_state(policy(""), task.clone());
    let a = lm::Host::create_lora(&mut s, config(2, vec![1, 2]), 3)
        .unwrap()
        .unwrap();
    let opt = HostOptimizer::new(&mut s, adamw(0.01)).unwrap();
    // Row 5 has 7 tokens, row 0 two: the batch pays for 7 on both rows.
    let batch = vec![0u32, 5];
    let charge = lm::Host::train_step_flops(&mut s, config(2, vec![1, 2]), batch.clone())
        .unwrap()
        .unwrap();
    let bb = task.backbone.as_ref().unwrap();
    let spec = s.table.get(&a).unwrap().lora().unwrap().spec().clone();
    assert_eq!(charge, bb.train_step_flops(&spec, 2, 7));
    assert!(charge > bb.train_step_flops(&spec, 2, 2));
    let before = s.meters.flops;
    let step = |s: &mut HostState| {
        s.train_step(
            borrow(&a),
            borrow(&opt),
            batch.clone(),
            vec![1.0, 0.0, 0.0, 1.0],
            vec![1.0, 1.0],
        )
    };
    assert!(step(&mut s).unwrap().unwrap() > 0.0);
    assert_eq!(s.meters.flops - before, charge);

    // A fresh run whose budget is one FLOP short of the step.
    let (mut s, _) = host_state(policy(""), task.clone());
    let a2 = lm::Host::create_lora(&mut s, config(2, vec![1, 2]), 3)
        .unwrap()
        .unwrap();
    let opt2 = HostOptimizer::new(&mut s, adamw(0.01)).unwrap();
    let used = s.meters.flops;
    let budget = format!("[host]\ncompute_flops = {}", used + charge - 1);
    let (mut t, _) = host_state(policy(&budget), task);
    let b = lm::Host::create_lora(&mut t, config(2, vec![1, 2]), 3)
        .unwrap()
        .unwrap();
    let optb = HostOptimizer::new(&mut t, adamw(0.01)).unwrap();
    let params_before: Vec<Vec<f32>> = t
        .table
        .get(&b)
        .unwrap()
        .lora()
        .unwrap()
        .params()
        .iter()
        .map(|p| p.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect();
    let trap = t
        .train_step(
            borrow(&b),
            borrow(&optb),
            vec![0, 5],
            vec![1.0, 0.0, 0.0, 1.0],
            vec![1.0, 1.0],
        )
        .unwrap_err();
    assert!(matches!(
        trap.downcast_ref::<HostTrap>(),
        Some(HostTrap::ComputeBudget { .. })
    ));
    let params_after: Vec<Vec<f32>> = t
        .table
        .get(&b)
        .unwrap()
        .lora()
        .unwrap()
        .params()
        .iter()
        .map(|p| p.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect();
    assert_eq!(params_before, params_after, "nothing ran");
    assert_eq!(t.meters.train_steps, 0);
    let _ = (a2, opt2);
}

#[test]
fn student_methods_work_on_lm_lora_students() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, _) = host_state(policy(""), lora_task(tmp.path()));
    let a = lm::Host::create_lora(&mut s, config(2, vec![1]), 3)
        .unwrap()
        .unwrap();
    let p = HostStudent::predict(&mut s, borrow(&a), vec![0, 1, 2])
        .unwrap()
        .unwrap();
    assert_eq!(p.len(), 6);
    for row in p.chunks(2) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let h = HostStudent::hidden(&mut s, borrow(&a), vec![3])
        .unwrap()
        .unwrap();
    assert_eq!(h.len(), 32);
    let copy = HostStudent::duplicate(&mut s, borrow(&a)).unwrap().unwrap();
    assert!(
        lm::Host::lora_config_of(&mut s, borrow(&copy))
            .unwrap()
            .is_some()
    );
    let params = HostStudent::parameters(&mut s, borrow(&a))
        .unwrap()
        .unwrap();
    assert_eq!(params.len(), 6, "A and B for q, v and down of one layer");
    // A tracked forward, a loss through the tensor interface, a step.
    let (logits, _) = HostStudent::forward(&mut s, borrow(&a), vec![0, 4])
        .unwrap()
        .unwrap();
    let loss =
        crate::imports::bindings::w2s::strategy::tensor::Host::entropy(&mut s, borrow(&logits))
            .unwrap()
            .unwrap();
    let opt = HostOptimizer::new(&mut s, adamw(0.01)).unwrap();
    HostStudent::backward_step(&mut s, borrow(&a), borrow(&loss), borrow(&opt))
        .unwrap()
        .unwrap();
    assert_eq!(s.meters.train_steps, 1);
    let e = HostStudent::backward_step(&mut s, borrow(&a), borrow(&loss), borrow(&opt))
        .unwrap()
        .unwrap_err();
    assert!(e.message.contains("no forward"), "{}", e.message);
    HostStudent::reinit(&mut s, borrow(&a), 9).unwrap().unwrap();
    HostStudent::add_noise(&mut s, borrow(&a), 1, 0.1)
        .unwrap()
        .unwrap();
}
