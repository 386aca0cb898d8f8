//! A bounded property test of the host boundary: random scripts of host
//! calls with arbitrary arguments, run by `plugins/fuzz-driver` (see its
//! crate docs for the script format), from a fixed seed.
//!
//! For every script it checks that:
//! - the run ends in one typed outcome, and never in a host panic or a
//!   host-internal trap;
//! - no student or optimizer is alive after the run
//!   ([`Sandbox::live_handles`] is 0), whatever the guest left undropped;
//! - the usage respects every limit of the policy, and a student comes
//!   back exactly when the run completed;
//! - every tenth script, run again, gives the same view, bit for bit.
//!
//! Scripts alternate between a roomy policy and a tight one, so that they
//! reach the limits too, halfway through whatever they were doing.

use std::collections::BTreeMap;
use std::sync::Arc;

use w2s_host::{Outcome, Policy, RunReport, Sandbox, Strategy};
use w2s_train::rng::Rng;

use crate::helpers::plugin;
use crate::hostile::{load, policy_from_lines, suite, view};

/// Scripts per run of the test.
const SCRIPTS: u64 = 500;
/// The seed every script is drawn from.
const FUZZ_SEED: u64 = 0x5eed_f022;
/// Most operations in a script.
const MAX_SCRIPT_OPS: u64 = 300;

/// The two policies scripts alternate between: `roomy`, where most
/// scripts run to their end, and `tight`, whose limits random scripts
/// reach (handles, tensor memory, compute, steps, fuel, metric points).
fn fuzz_policies() -> [Policy; 2] {
    let roomy = [
        "guest.fuel = 500_000_000",
        "guest.wall_clock_ms = 30_000",
        "guest.memory_bytes = 67_108_864",
        "host.max_handles = 256",
        "host.tensor_bytes = 67_108_864",
        "host.compute_flops = 20_000_000_000",
        "host.max_train_steps = 1000",
        "host.max_metric_points = 50",
    ];
    let tight = [
        "guest.fuel = 20_000_000",
        "guest.wall_clock_ms = 30_000",
        "guest.memory_bytes = 16_777_216",
        "host.max_handles = 48",
        "host.tensor_bytes = 4_194_304",
        "host.compute_flops = 50_000_000",
        "host.max_train_steps = 5",
        "host.max_metric_points = 5",
    ];
    [roomy, tight]
        .map(|lines| policy_from_lines(&lines.map(str::to_owned)).expect("a valid fuzz policy"))
}

/// A float byte for the driver: mostly ordinary values in [0, 2), often
/// one of its special ones (NaN, infinities, zeros, negatives, huge).
fn float(rng: &mut Rng) -> u8 {
    if rng.below(10) < 6 {
        128 + rng.below(128) as u8
    } else {
        rng.below(16) as u8
    }
}

/// An index list for the driver: mostly short and in the pool, sometimes
/// empty, long, over the per-call limit, or with an index out of range.
fn indices(rng: &mut Rng, out: &mut Vec<u8>) {
    let len = match rng.below(20) {
        0 => 0,
        1 => 254,
        2 => 255, // 65537 indices
        _ => 1 + rng.below(64) as u8,
    };
    let kind = if rng.below(10) < 8 {
        rng.below(2)
    } else {
        2 + rng.below(2)
    };
    out.extend_from_slice(&[len, kind as u8]);
}

/// Script `i`: a random sequence of the driver's operations (opcodes as
/// in `plugins/fuzz-driver`), weighted towards building students and
/// training them, with random arguments; `1..=MAX_SCRIPT_OPS` of them.
fn script(i: u64) -> Vec<u8> {
    let mut rng = Rng::for_stream(FUZZ_SEED, &format!("script-{i}"));
    let ops = 1 + rng.below(MAX_SCRIPT_OPS);
    let mut out = Vec::new();
    for _ in 0..ops {
        // Rarely, end early: return a student, or an error.
        if rng.below(500) == 0 {
            match rng.below(2) {
                0 => out.extend_from_slice(&[13, rng.next_u64() as u8]),
                _ => out.push(14),
            }
            break;
        }
        let pick = rng.below(98);
        let b = |rng: &mut Rng| rng.next_u64() as u8;
        match pick {
            // create: linear or an MLP of a small, arbitrary or edge width
            0..=11 => {
                let hidden: u16 = match rng.below(4) {
                    0 | 1 => 1 + rng.below(512) as u16,
                    2 => rng.next_u64() as u16,
                    _ => [0, 4096, 4097, u16::MAX][rng.below(4) as usize],
                };
                out.push(0);
                out.push(b(&mut rng));
                out.extend_from_slice(&hidden.to_le_bytes());
                out.push(b(&mut rng));
            }
            12..=16 => out.extend_from_slice(&[1, b(&mut rng)]),
            17..=22 => out.extend_from_slice(&[2, b(&mut rng)]),
            // optimizer: usually a sound configuration (lr 1e-3 or in
            // [0, 2), betas 0.9/0.999, eps 1e-8), else six arbitrary floats
            23..=32 => {
                out.extend_from_slice(&[3, b(&mut rng)]);
                if rng.below(10) < 6 {
                    let lr = if rng.below(2) == 0 {
                        4
                    } else {
                        float(&mut rng)
                    };
                    out.extend_from_slice(&[lr, 0, 5, 6, 7, 0]);
                } else {
                    for _ in 0..6 {
                        out.push(float(&mut rng));
                    }
                }
            }
            33..=36 => out.extend_from_slice(&[4, b(&mut rng)]),
            37..=40 => {
                let lr = float(&mut rng);
                out.extend_from_slice(&[5, b(&mut rng), lr]);
            }
            41..=50 => {
                out.push(6 + rng.below(2) as u8);
                out.push(b(&mut rng));
                indices(&mut rng, &mut out);
            }
            // train-step: usually well-formed targets and weights, else
            // one off in length or in value
            51..=77 => {
                // Sound steps pick the student and optimizer of the same
                // rank, so that an optimizer tends to stay with one
                // student.
                let sound = rng.below(10) < 7;
                let (s, o) = (b(&mut rng), b(&mut rng));
                out.extend_from_slice(&[8, s, if sound { s } else { o }]);
                indices(&mut rng, &mut out);
                let t = if sound {
                    2 + 8 * rng.below(32) as u8
                } else {
                    b(&mut rng)
                };
                let w = if sound {
                    1 + 8 * rng.below(32) as u8
                } else {
                    b(&mut rng)
                };
                let (tv, wv) = if sound {
                    (128 + rng.below(128) as u8, 160 + rng.below(96) as u8)
                } else {
                    (float(&mut rng), float(&mut rng))
                };
                out.extend_from_slice(&[t, tv, w, wv]);
            }
            78..=81 => {
                out.push(9);
                indices(&mut rng, &mut out);
            }
            82..=85 => out.extend_from_slice(&[10, b(&mut rng)]),
            86..=90 => {
                let value = float(&mut rng);
                out.extend_from_slice(&[11, b(&mut rng), rng.below(100) as u8, value]);
            }
            91..=95 => out.push(12),
            _ => out.extend_from_slice(&[15, rng.below(40) as u8]),
        }
    }
    // Most scripts end by returning a student (if one is alive).
    if rng.below(10) < 7 {
        out.extend_from_slice(&[13, rng.next_u64() as u8]);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the invariants of one run; `Err` says which broke.
fn check(r: &RunReport, policy: &Policy, sandbox: &Sandbox) -> Result<(), String> {
    let code = r.outcome.code();
    let v = view(Ok(r));
    let kind = v["outcome"]["kind"].as_str().unwrap_or_default();
    if !Outcome::CODES.contains(&code) || ["invalid-module", "import-denied"].contains(&code) {
        return Err(format!("untyped or impossible outcome {code}"));
    }
    if code == "trap" && ["host-panic", "host-internal"].contains(&kind) {
        return Err(format!("host fault: {}", v["outcome"]));
    }
    if sandbox.live_handles() != 0 {
        return Err(format!(
            "{} handles alive after the run",
            sandbox.live_handles()
        ));
    }
    let (u, h, g) = (&r.usage, policy.host(), policy.guest());
    let within = [
        ("flops", u.flops, h.compute_flops),
        ("peak_handles", u.peak_handles, u64::from(h.max_handles)),
        ("peak_tensor_bytes", u.peak_tensor_bytes, h.tensor_bytes),
        ("train_steps", u.train_steps, h.max_train_steps),
        ("peak_memory_bytes", u.peak_memory_bytes, g.memory_bytes),
        ("fuel_consumed", u.fuel_consumed, g.fuel),
        (
            "metrics",
            r.metrics.len() as u64,
            u64::from(h.max_metric_points),
        ),
    ];
    for (what, used, limit) in within {
        if used > limit {
            return Err(format!("{what} {used} over the limit {limit}"));
        }
    }
    if r.student.is_some() != r.outcome.is_completed() {
        return Err(format!(
            "student {:?} with outcome {code}",
            r.student.is_some()
        ));
    }
    Ok(())
}

#[test]
fn random_host_call_scripts_end_in_typed_outcomes_and_leave_no_handles() {
    let wasm = std::fs::read(plugin("fuzz_driver")).unwrap();
    let sandboxes: Vec<(Policy, Sandbox, Strategy)> = fuzz_policies()
        .into_iter()
        .map(|policy| {
            let sandbox = Sandbox::new(policy.clone()).unwrap();
            let strategy = load(&sandbox, &wasm).unwrap();
            (policy, sandbox, strategy)
        })
        .collect();
    let task = Arc::clone(&suite().task);
    let mut codes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut steps, mut calls) = (0, 0);
    let mut failures = Vec::new();
    for i in 0..SCRIPTS {
        let (policy, sandbox, strategy) = &sandboxes[(i % 2) as usize];
        let bytes = script(i);
        let config = format!("script={}", hex(&bytes));
        let r = sandbox.run(strategy, Arc::clone(&task), &config, i, &mut |_| {});
        *codes.entry(r.outcome.code()).or_default() += 1;
        steps += r.usage.train_steps;
        calls += r.usage.host_calls;
        if let Err(e) = check(&r, policy, sandbox) {
            failures.push(format!("script {i} ({config}): {e}"));
            continue;
        }
        if i % 10 == 0 {
            let again = sandbox.run(strategy, Arc::clone(&task), &config, i, &mut |_| {});
            let (mut a, mut b) = (view(Ok(&r)), view(Ok(&again)));
            a.as_object_mut().unwrap().remove("wall_ms");
            b.as_object_mut().unwrap().remove("wall_ms");
            if a != b {
                failures.push(format!("script {i} ({config}) is not deterministic"));
            }
        }
    }
    eprintln!("{SCRIPTS} scripts: {calls} host calls, {steps} train steps, outcomes {codes:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The scripts reach more than one ending: completions and refusals
    // at least.
    for code in ["completed", "guest-error"] {
        assert!(
            codes.contains_key(code),
            "no script ended as {code}: {codes:?}"
        );
    }
}
