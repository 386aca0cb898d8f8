//! Evaluate a strategy with the library, as a research harness would.
//!
//! ```sh
//! cargo build -p w2s-cli && scripts/build-plugins.sh
//! cargo run -p w2s-eval --example evaluate -- target/debug/w2s \
//!     plugins/target/wasm32-wasip2/release/vanilla.wasm .w2s/tasks/default epochs=10 1 2
//! ```
//!
//! Arguments: the `w2s` executable (its `compile`, `score` and `task
//! synth` subcommands are the evaluation's child processes), the
//! component, the task bundle, the config string passed to the strategy,
//! then the seeds (given by hand, so the report says it is not rankable). It runs the evaluation with the
//! controls, prints the private PGR and the flags, and writes the report
//! as JSON to stdout's last line. `tests/all/library.rs` runs [`evaluate`]
//! on the default task and compares its report with `w2s eval`'s.

use std::path::Path;

use w2s_eval::{
    EvalError, Evaluation, Executable, PolicyInfo, ProgressSink, Report, SeedPlan, Submission, Task,
};

/// Prints a line per finished run on stderr.
struct Log;

impl ProgressSink for Log {
    fn run_finished(&self, label: &str) {
        eprintln!("{label} done");
    }
    fn note(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// `wasm` on the task at `task` with `config` under `seeds`, with the
/// controls, the built-in policy, and a compile cache in `cache_dir`.
pub fn evaluate(
    w2s: &Path,
    wasm: &Path,
    task: &Path,
    config: &str,
    seeds: Vec<u64>,
    cache_dir: &Path,
) -> Result<Report, EvalError> {
    let exe = Executable::at(w2s);
    let submission = Submission::load(&exe, wasm, PolicyInfo::effective(None)?, cache_dir)?;
    if let Some(line) = submission.refusal() {
        eprintln!("the sandbox refused the component: {line}");
    }
    let task = Task::open(task)?;
    Evaluation::new(&task, &submission, SeedPlan::given(seeds)?)
        .config(config)
        .controls(true)
        .run(&Log)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [w2s, wasm, task, config, seeds @ ..] = args.as_slice() else {
        return Err("usage: evaluate W2S WASM TASK CONFIG [SEED...]".into());
    };
    let seeds = seeds
        .iter()
        .map(|s| s.parse::<u64>())
        .collect::<Result<Vec<_>, _>>()?;
    let seeds = if seeds.is_empty() { vec![1] } else { seeds };
    let cache = tempfile::tempdir()?;
    let report = evaluate(
        Path::new(w2s),
        Path::new(wasm),
        Path::new(task),
        config,
        seeds,
        cache.path(),
    )?;
    let private_pgr = report.score.as_ref().and_then(|s| s.private.pgr.as_ref());
    match private_pgr {
        Some(pgr) => println!("private PGR {:.4} over {} seeds", pgr.mean, pgr.n),
        None => println!("not scored"),
    }
    let flags: Vec<&str> = report.flags.iter().map(|f| f.code).collect();
    println!("flags: {}", flags.join(", "));
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
