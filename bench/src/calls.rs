//! Host-call overhead: `plugins/bench-guest` loops over one call; the cost
//! of a call is `(run time - empty-loop run time) / n`.

use anyhow::Result;

use crate::guest::{DefaultTask, Loaded};

/// Iterations of each loop.
pub(crate) const ITERATIONS: u64 = 200_000;

/// One loop's figure.
#[derive(Debug, Clone)]
pub(crate) struct CallCost {
    /// The bench guest's loop name.
    pub(crate) call: &'static str,
    /// What one iteration does.
    pub(crate) what: &'static str,
    /// Nanoseconds per iteration above the empty loop.
    pub(crate) ns: f64,
}

/// The fastest of `repeats` runs of one loop, seconds.
fn fastest(loaded: &Loaded, task: &DefaultTask, which: &str, repeats: usize) -> Result<f64> {
    let config = format!("loop={which},n={ITERATIONS}");
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        best = best.min(loaded.run(task, &config, 1)?.1);
    }
    Ok(best)
}

/// What the call-overhead benchmark measured.
#[derive(Debug, Clone)]
pub(crate) struct Calls {
    /// Wall time of a whole sandboxed run of the empty loop (store,
    /// instance, run thread, one linear student, teardown), seconds.
    pub(crate) empty_run_s: f64,
    /// Per-call costs.
    pub(crate) costs: Vec<CallCost>,
}

/// Per-call costs of `task.num-classes` and of a 4x4 tensor add (with the
/// drop of its result). Each loop's time is the fastest of `repeats` runs.
pub(crate) fn measure(task: &DefaultTask, repeats: usize) -> Result<Calls> {
    let loaded = Loaded::plugin("bench_guest")?;
    let empty = fastest(&loaded, task, "empty", repeats)?;
    eprintln!("call: an empty-loop run takes {:.2} ms", empty * 1e3);
    let mut out = Vec::new();
    for (call, what) in [
        (
            "num-classes",
            "`task.num-classes` (no arguments, returns a u32)",
        ),
        (
            "tensor-add",
            "`tensor.binary(add)` of two 4x4 host tensors, then the drop of the result",
        ),
    ] {
        let t = fastest(&loaded, task, call, repeats)?;
        let ns = (t - empty) / ITERATIONS as f64 * 1e9;
        eprintln!("call {call}: {ns:.0} ns per call");
        out.push(CallCost { call, what, ns });
    }
    Ok(Calls {
        empty_run_s: empty,
        costs: out,
    })
}
