//! The Python ports of `plugins/python` train the same student as their
//! Rust twins, bit for bit, under the same host seed: `python_vanilla` and
//! `plugins/vanilla`, `python_logconf` and `plugins/logconf`. Both twins run
//! in the sandbox of this build, so the comparison holds whatever the
//! training primitives compute (it compares Python and Rust guests, not
//! figures). What makes it possible: the Python SDK's `Rng` is the Rust
//! SDK's generator, each port makes the same host calls in the same order
//! with the same values, and logconf's f32 targets are rounded after each
//! operation as in Rust (`w2s_guest_sdk.f32math`).

use std::sync::Arc;

use candle_core::Device;
use w2s_host::{Outcome, Policy, RunReport, Sandbox};
use w2s_train::bundle::PublicTask;

use crate::helpers::{default_task, load_cached, plugin, python_plugin};
use crate::native_twin::assert_same_bits;

/// Seed of every run (any fixed value; the same as `native_twin`'s).
const SEED: u64 = 77;

fn task() -> Arc<PublicTask> {
    Arc::new(PublicTask::open(&default_task(), &Device::Cpu).unwrap())
}

/// Runs the component at `wasm` with `config` under the default policy.
fn run(wasm: &std::path::Path, config: &str, task: &Arc<PublicTask>) -> RunReport {
    let sandbox = Sandbox::new(Policy::default()).unwrap();
    let strategy = load_cached(&sandbox, wasm);
    let report = sandbox.run(&strategy, task.clone(), config, SEED, &mut |_| {});
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "{}: {:?}\n{}",
        wasm.display(),
        report.outcome,
        report.stderr.kept
    );
    report
}

/// Both twins' students are equal bit for bit, and so are their training
/// curves (the losses each host call returned, summed in f64 the same way).
fn assert_twins(rust: &RunReport, python: &RunReport) {
    assert_same_bits(
        rust.student.as_ref().unwrap(),
        python.student.as_ref().unwrap(),
    );
    assert_eq!(rust.usage.train_steps, python.usage.train_steps);
    assert_eq!(rust.usage.flops, python.usage.flops);
    let curve = |r: &RunReport| -> Vec<(u32, String, u64)> {
        r.metrics
            .iter()
            .map(|m| (m.step, m.name.clone(), m.value.to_bits()))
            .collect()
    };
    assert_eq!(curve(rust), curve(python));
}

#[test]
fn python_vanilla_equals_rust_vanilla_bit_for_bit() {
    let task = task();
    let rust = run(&plugin("vanilla"), "epochs=2", &task);
    let python = run(&python_plugin("vanilla"), "epochs=2", &task);
    assert_twins(&rust, &python);
}

#[test]
fn python_logconf_equals_rust_logconf_bit_for_bit() {
    let task = task();
    // Warm-up over half of the 94 steps: the ramp and the plateau of alpha.
    let config = "epochs=2,warmup=0.5";
    let rust = run(&plugin("logconf"), config, &task);
    let python = run(&python_plugin("logconf"), config, &task);
    assert_twins(&rust, &python);
}
