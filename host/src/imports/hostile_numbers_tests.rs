//! Hostile numbers (issue 18, fix 3): sample weights at the ends of the
//! f32 range in an `lm-lora` step, and NaN or infinite parameters given to
//! `set-parameters` (head and `lm-lora` students).

use wasmtime::component::Resource;

use super::tests::{config, lora_task, policy};
use crate::imports::bindings::w2s::strategy::student::{HostOptimizer, HostStudent};
use crate::imports::bindings::w2s::strategy::tensor::HostTensor;
use crate::imports::optimizer::adamw;
use crate::imports::student::StudentEntry;
use crate::imports::wit;
use crate::state::HostState;
use crate::state::test_support::{borrow, host_state, tiny_task};

/// Every parameter of a student, flattened.
fn params_of(s: &HostState, st: &Resource<StudentEntry>) -> Vec<Vec<f32>> {
    let e = s.table.get(st).unwrap();
    let ps = match e.lora() {
        Some(l) => l.params().to_vec(),
        None => e.head().unwrap().params().to_vec(),
    };
    ps.iter()
        .map(|p| p.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

/// The loss and the parameters after one AdamW step of a fresh `lm-lora`
/// student (seed 3) on rows 0..4 with `weights`.
fn one_lora_step(weights: Vec<f32>) -> (f32, Vec<Vec<f32>>) {
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, _) = host_state(policy(""), lora_task(tmp.path()));
    let a = super::lm::Host::create_lora(&mut s, config(2, vec![1, 2]), 3)
        .unwrap()
        .unwrap();
    // B starts at zero; a nonzero B makes every adapter's gradient nonzero.
    HostStudent::add_noise(&mut s, borrow(&a), 5, 0.1)
        .unwrap()
        .unwrap();
    let opt = HostOptimizer::new(&mut s, adamw(0.01)).unwrap();
    let targets = [1.0, 0.0, 0.0, 1.0].repeat(2);
    let loss = s
        .train_step(borrow(&a), borrow(&opt), vec![0, 1, 2, 3], targets, weights)
        .unwrap()
        .unwrap();
    (loss, params_of(&s, &a))
}

#[test]
fn lora_step_weights_near_f32_max_or_subnormal_are_summed_in_f64() {
    let (loss, reference) = one_lora_step(vec![1.0; 4]);
    assert!(loss.is_finite() && loss > 0.0, "{loss}");
    // In f32, 4 x 3e38 overflowed the sum (a NaN loss, no update) and
    // 4 x 1e-45 made the gradient's 1 / sum^2 infinite (non-finite
    // parameters). Normalised in f64, equal weights are equal weights: the
    // same loss and the same update, bit for bit.
    for w in [3e38f32, 1e-45] {
        let (l, after) = one_lora_step(vec![w; 4]);
        assert_eq!(
            l.to_bits(),
            loss.to_bits(),
            "weights {w}: loss {l} vs {loss}"
        );
        assert!(after.iter().flatten().all(|v| v.is_finite()), "weights {w}");
        assert_eq!(after, reference, "weights {w}");
    }
    // Unequal extreme weights stay finite too.
    let (l, after) = one_lora_step(vec![3e38, 3e38, 1e-45, 1.0]);
    assert!(l.is_finite(), "{l}");
    assert!(after.iter().flatten().all(|v| v.is_finite()));
}

/// `set-parameters` with tensor `bad` of the student's own parameters
/// replaced by one holding `value`: refused with the fixed text, and the
/// parameters stay as they were.
fn refuses_non_finite(s: &mut HostState, st: &Resource<StudentEntry>, value: f32) {
    let before = params_of(s, st);
    let params = HostStudent::parameters(s, borrow(st)).unwrap().unwrap();
    for bad in 0..params.len() {
        let mut vals = before[bad].clone();
        let mid = vals.len() / 2;
        vals[mid] = value;
        let shape = HostTensor::shape(s, borrow(&params[bad])).unwrap();
        let poisoned = HostTensor::from_list(s, vals, shape).unwrap().unwrap();
        let list: Vec<_> = params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i == bad {
                    borrow(&poisoned)
                } else {
                    borrow(p)
                }
            })
            .collect();
        let e = HostStudent::set_parameters(s, borrow(st), list)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
        assert_eq!(
            e.message,
            format!("`params`: tensor {bad} has a non-finite value (NaN or infinity)")
        );
        assert_eq!(
            params_of(s, st),
            before,
            "tensor {bad} = {value}: unchanged"
        );
    }
    // The same tensors, all finite, are accepted.
    let list: Vec<_> = params.iter().map(borrow).collect();
    HostStudent::set_parameters(s, borrow(st), list)
        .unwrap()
        .unwrap();
}

#[test]
fn set_parameters_refuses_nan_and_infinite_lora_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut s, _) = host_state(policy(""), lora_task(tmp.path()));
    let a = super::lm::Host::create_lora(&mut s, config(2, vec![1]), 3)
        .unwrap()
        .unwrap();
    for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        refuses_non_finite(&mut s, &a, value);
    }
    let p = HostStudent::predict(&mut s, borrow(&a), vec![0, 1])
        .unwrap()
        .unwrap();
    assert!(p.iter().all(|v| v.is_finite()), "{p:?}");
}

#[test]
fn set_parameters_refuses_nan_and_infinite_head_weights() {
    let (mut s, _) = host_state(w2s_policy::Policy::default(), tiny_task(8));
    for arch in [wit::Arch::Linear, wit::Arch::Mlp(wit::Mlp { hidden: 5 })] {
        let st = HostStudent::create(&mut s, arch, 3).unwrap().unwrap();
        for value in [f32::NAN, f32::INFINITY] {
            refuses_non_finite(&mut s, &st, value);
        }
        let p = HostStudent::predict(&mut s, borrow(&st), vec![0, 1])
            .unwrap()
            .unwrap();
        assert!(p.iter().all(|v| v.is_finite()), "{p:?}");
    }
}
