//! Tests of the tensor interface across its op families: validation,
//! charges, limits, and the autograd path through a student.

use w2s_policy::Policy;
use wasmtime::component::Resource;
use wt::{Host, HostTensor};

use super::TensorEntry;
use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::student::{HostOptimizer, HostStudent};
use crate::imports::bindings::w2s::strategy::tensor as wt;
use crate::imports::optimizer::adamw;
use crate::imports::wit;
use crate::state::HostState;
use crate::state::test_support::{borrow, host_state, tiny_task};

fn values(s: &mut HostState, t: &Resource<TensorEntry>) -> Vec<f32> {
    s.to_list(borrow(t)).unwrap().unwrap()
}

#[test]
fn bad_shapes_are_errors_and_charge_nothing() {
    let (mut s, _) = host_state(Policy::default(), tiny_task(8));
    let a = s.from_list(vec![1.0; 6], vec![2, 3]).unwrap().unwrap();
    let b = s.from_list(vec![1.0; 6], vec![2, 3]).unwrap().unwrap();
    let (flops, bytes) = (s.meters.flops, s.meters.tensor_bytes());
    let e = s.matmul(borrow(&a), borrow(&b)).unwrap().unwrap_err();
    assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
    assert!(e.message.contains("matmul"), "{}", e.message);
    let c = s.from_list(vec![1.0; 4], vec![4]).unwrap().unwrap();
    let e = s
        .binary(borrow(&a), wt::BinaryOp::Add, borrow(&c))
        .unwrap()
        .unwrap_err();
    assert!(e.message.contains("broadcast"), "{}", e.message);
    assert!(s.from_list(vec![1.0; 5], vec![2, 3]).unwrap().is_err());
    assert!(s.from_list(vec![], vec![0]).unwrap().is_err());
    assert!(
        s.from_list(vec![1.0], vec![1, 1, 1, 1, 1])
            .unwrap()
            .is_err()
    );
    assert!(s.full(0.0, vec![u32::MAX, u32::MAX]).unwrap().is_err());
    assert!(
        s.reduce(borrow(&a), wt::ReduceOp::Sum, 2, false)
            .unwrap()
            .is_err()
    );
    assert!(s.narrow(borrow(&a), 1, 2, 2).unwrap().is_err());
    assert!(s.reshape(borrow(&a), vec![4]).unwrap().is_err());
    assert!(s.top_k(borrow(&a), 4).unwrap().is_err());
    assert!(s.quantile(borrow(&a), 1.5).unwrap().is_err());
    assert!(s.clamp(borrow(&a), 1.0, 0.0).unwrap().is_err());
    assert!(s.index_select(borrow(&a), 0, vec![2]).unwrap().is_err());
    let idx = s.from_list(vec![0.0, 3.0], vec![2, 1]).unwrap().unwrap();
    let (flops2, bytes2) = (s.meters.flops, s.meters.tensor_bytes());
    assert!(s.gather(borrow(&a), 1, borrow(&idx)).unwrap().is_err());
    assert!(
        s.soft_cross_entropy(borrow(&a), borrow(&c))
            .unwrap()
            .is_err()
    );
    assert!(s.concat(vec![borrow(&a), borrow(&c)], 0).unwrap().is_err());
    assert_eq!((s.meters.flops, s.meters.tensor_bytes()), (flops2, bytes2));
    assert_eq!(bytes + 8 + 16, bytes2);
    assert_eq!(flops + 4 + 2, flops2);
}

#[test]
fn ops_charge_compute_and_memory_released_on_drop() {
    let (mut s, _) = host_state(Policy::default(), tiny_task(8));
    let a = s
        .from_list(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![2, 3])
        .unwrap()
        .unwrap();
    let b = s.transpose(borrow(&a), 0, 1).unwrap().unwrap();
    let before = s.meters.flops;
    let m = s.matmul(borrow(&a), borrow(&b)).unwrap().unwrap();
    assert_eq!(s.meters.flops - before, 2 * 2 * 3 * 2);
    assert_eq!(values(&mut s, &m), vec![14.0, 32.0, 32.0, 77.0]);
    assert_eq!(s.meters.tensor_bytes(), (6 + 6 + 4) * 4);
    assert_eq!(s.meters.handles(), 3);
    HostTensor::drop(&mut s, m).unwrap();
    HostTensor::drop(&mut s, b).unwrap();
    assert_eq!(s.meters.tensor_bytes(), 6 * 4);
    assert_eq!(s.meters.handles(), 1);
    // Reductions, top-k, quantile, argmax.
    let r = s
        .reduce(borrow(&a), wt::ReduceOp::Max, 1, false)
        .unwrap()
        .unwrap();
    assert_eq!(values(&mut s, &r), vec![3.0, 6.0]);
    let (v, i) = s.top_k(borrow(&a), 2).unwrap().unwrap();
    assert_eq!(values(&mut s, &v), vec![3.0, 2.0, 6.0, 5.0]);
    assert_eq!(values(&mut s, &i), vec![2.0, 1.0, 2.0, 1.0]);
    let q = s.quantile(borrow(&a), 0.25).unwrap().unwrap();
    assert_eq!(values(&mut s, &q), vec![1.5, 4.5]);
    let am = s.argmax(borrow(&a), 1).unwrap().unwrap();
    assert_eq!(s.shape(borrow(&am)).unwrap(), vec![2]);
    let g = s.from_list(vec![2.0, 0.0], vec![2, 1]).unwrap().unwrap();
    let gathered = s.gather(borrow(&a), 1, borrow(&g)).unwrap().unwrap();
    assert_eq!(values(&mut s, &gathered), vec![3.0, 4.0]);
    let total = s.sum_all(borrow(&a)).unwrap().unwrap();
    assert!(s.shape(borrow(&total)).unwrap().is_empty());
    assert_eq!(values(&mut s, &total), vec![21.0]);
}

#[test]
fn a_tensor_bomb_hits_the_handle_limit() {
    let p = Policy::from_toml_str("version = 1\n[host]\nmax_handles = 8\n").unwrap();
    let (mut s, _) = host_state(p, tiny_task(8));
    let a = s.from_list(vec![1.0], vec![]).unwrap().unwrap();
    let mut kept = Vec::new();
    let trap = loop {
        match s.affine(borrow(&a), 2.0, 0.0) {
            Ok(r) => kept.push(r.unwrap()),
            Err(e) => break e,
        }
    };
    assert_eq!(
        trap.downcast_ref::<HostTrap>(),
        Some(&HostTrap::HandleLimit { limit: 8 })
    );
}

#[test]
fn forward_and_backward_step_train_the_student() {
    let (mut s, _) = host_state(Policy::default(), tiny_task(8));
    let st = s
        .create(wit::Arch::Mlp(wit::Mlp { hidden: 5 }), 3)
        .unwrap()
        .unwrap();
    let opt = HostOptimizer::new(&mut s, adamw(0.1)).unwrap();
    let targets = s
        .from_list(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0], vec![2, 3])
        .unwrap()
        .unwrap();
    let mut losses = Vec::new();
    for _ in 0..5 {
        let (z, h) = s.forward(borrow(&st), vec![0, 1]).unwrap().unwrap();
        assert_eq!(s.shape(borrow(&h)).unwrap(), vec![2, 5]);
        let ce = s
            .soft_cross_entropy(borrow(&z), borrow(&targets))
            .unwrap()
            .unwrap();
        let ent = s.entropy(borrow(&z)).unwrap().unwrap();
        let bonus = s.affine(borrow(&ent), 0.1, 0.0).unwrap().unwrap();
        let loss = s
            .binary(borrow(&ce), wt::BinaryOp::Add, borrow(&bonus))
            .unwrap()
            .unwrap();
        losses.push(values(&mut s, &ce)[0]);
        s.backward_step(borrow(&st), borrow(&loss), borrow(&opt))
            .unwrap()
            .unwrap();
        // The parameters changed: the same loss no longer reaches them.
        let e = s
            .backward_step(borrow(&st), borrow(&loss), borrow(&opt))
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("no forward"), "{}", e.message);
        for r in [z, h, ce, ent, bonus, loss] {
            HostTensor::drop(&mut s, r).unwrap();
        }
    }
    assert!(losses[4] < losses[0], "{losses:?}");
    assert_eq!(s.meters.train_steps, 5);
    // Parameters round-trip, shapes are checked, noise is seeded.
    let params = s.parameters(borrow(&st)).unwrap().unwrap();
    assert_eq!(params.len(), 4);
    let wrong = vec![borrow(&params[1]), borrow(&params[0])];
    assert!(s.set_parameters(borrow(&st), wrong).unwrap().is_err());
    s.add_noise(borrow(&st), 7, 0.5).unwrap().unwrap();
    assert!(s.add_noise(borrow(&st), 7, f32::NAN).unwrap().is_err());
    let noisy = s.parameters(borrow(&st)).unwrap().unwrap();
    assert_ne!(values(&mut s, &noisy[1]), values(&mut s, &params[1]));
    let back: Vec<_> = params.iter().map(borrow).collect();
    s.set_parameters(borrow(&st), back).unwrap().unwrap();
    let again = s.parameters(borrow(&st)).unwrap().unwrap();
    assert_eq!(values(&mut s, &again[1]), values(&mut s, &params[1]));
    s.reinit(borrow(&st), 3).unwrap().unwrap();
}

#[test]
fn dropped_intermediates_of_a_tracked_graph_stay_charged() {
    let (mut s, _) = host_state(Policy::default(), tiny_task(8));
    let st = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
    let params = s.meters.tensor_bytes();
    let (z, h) = s.forward(borrow(&st), vec![0, 1]).unwrap().unwrap();
    HostTensor::drop(&mut s, h).unwrap();
    // A chain of 20 affines, each intermediate dropped: the graph keeps
    // them all alive, so the last one carries their charges.
    let mut cur = z;
    for _ in 0..20 {
        let next = s.affine(borrow(&cur), 1.0, 0.0).unwrap().unwrap();
        HostTensor::drop(&mut s, cur).unwrap();
        cur = next;
    }
    // Own values 2 x 3, the forward's graph (2 rows of features 4,
    // hidden 4 (the features again for a linear probe) and logits 3)
    // and 20 links of 2 x 3 each.
    let own = 6 * 4;
    let forward = own + 2 * 11 * 4;
    assert_eq!(s.meters.tensor_bytes() - params, forward + 20 * own);
    let d = s.detach(borrow(&cur)).unwrap().unwrap();
    assert_eq!(s.table.get(&d).unwrap().bytes, own);
    HostTensor::drop(&mut s, cur).unwrap();
    HostTensor::drop(&mut s, d).unwrap();
    assert_eq!(s.meters.tensor_bytes(), params);
}

#[test]
fn forward_returns_logits_for_hidden_when_reads_are_denied() {
    let p = Policy::from_toml_str("version = 1\n[students]\nread_hidden = false\n").unwrap();
    let (mut s, _) = host_state(p, tiny_task(8));
    let st = s
        .create(wit::Arch::Mlp(wit::Mlp { hidden: 5 }), 3)
        .unwrap()
        .unwrap();
    let (z, h) = s.forward(borrow(&st), vec![0]).unwrap().unwrap();
    assert_eq!(s.shape(borrow(&h)).unwrap(), vec![1, 3]);
    assert_eq!(values(&mut s, &z), values(&mut s, &h));
}
