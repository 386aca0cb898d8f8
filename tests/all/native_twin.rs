//! The sandboxed method plugins train the same student as their native
//! twins in `w2s_train`, bit for bit: `plugins/vanilla` and
//! `Recipe::train` on the weak hard labels, `plugins/logconf` and
//! `LogConf::train`. This is what makes the sandbox tax of
//! `docs/PERFORMANCE.md` a like-for-like comparison (`w2s-bench` checks it
//! again on every timed repeat).

use std::sync::Arc;

use candle_core::Device;
use w2s_host::{Outcome, Policy, Sandbox};
use w2s_train::Head;
use w2s_train::bundle::PublicTask;
use w2s_train::logconf::LogConf;
use w2s_train::recipe::{Recipe, argmax_rows, one_hot};

use crate::helpers::{default_task, plugin};

/// Seed of both runs (any fixed value).
const SEED: u64 = 77;

/// Runs the plugin `name` with `config` on the default task under the
/// default policy and returns its student.
fn sandboxed(name: &str, config: &str, task: &Arc<PublicTask>) -> Head {
    let wasm = std::fs::read(plugin(name)).unwrap();
    let sandbox = Sandbox::new(Policy::default()).unwrap();
    let strategy = sandbox.load(&wasm).unwrap();
    let report = sandbox.run(&strategy, task.clone(), config, SEED, &mut |_| {});
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "{name}: {:?}",
        report.outcome
    );
    report.student.unwrap()
}

pub(crate) fn assert_same_bits(a: &Head, b: &Head) {
    assert_eq!(a.arch(), b.arch());
    assert_eq!(a.params().len(), b.params().len());
    for (i, (p, q)) in a.params().iter().zip(b.params()).enumerate() {
        let p = p.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let q = q.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(p.len(), q.len());
        let differ = p
            .iter()
            .zip(&q)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(
            differ,
            0,
            "parameter {i}: {differ} of {} values differ",
            p.len()
        );
    }
}

fn task() -> Arc<PublicTask> {
    Arc::new(PublicTask::open(&default_task(), &Device::Cpu).unwrap())
}

#[test]
fn sandboxed_vanilla_equals_the_native_recipe() {
    let task = task();
    let k = task.classes();
    let guest = sandboxed("vanilla", "epochs=2", &task);
    let recipe = Recipe {
        epochs: 2,
        ..Recipe::reference()
    };
    let targets = one_hot(&argmax_rows(&task.weak_probs, k), k);
    let native = recipe
        .train(&task.features, &targets, k, SEED, &mut |_, _| {})
        .unwrap();
    assert_same_bits(&guest, &native);
}

#[test]
fn sandboxed_logconf_equals_its_native_twin() {
    let task = task();
    let k = task.classes();
    // Warm-up over half of the 94 steps, so that both the ramp and the
    // plateau of alpha are exercised.
    let guest = sandboxed("logconf", "epochs=2,warmup=0.5", &task);
    let method = LogConf {
        recipe: Recipe {
            epochs: 2,
            ..Recipe::reference()
        },
        warmup: 0.5,
        ..LogConf::reference()
    };
    let native = method
        .train(&task.features, &task.weak_probs, k, SEED, &mut |_, _| {})
        .unwrap();
    assert_same_bits(&guest, &native);
    // And the self-label term made a difference: not the vanilla student.
    let vanilla = sandboxed("vanilla", "epochs=2", &task);
    assert_ne!(
        guest.params()[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        vanilla.params()[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    );
}
