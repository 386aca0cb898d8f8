//! `w2s bench methods`: every method plugin on every task family, written
//! up as `docs/RESULTS.md`.
//!
//! The methods are the `[[method]]` entries of `plugins/methods.toml`
//! ([`methods_file`]); the tasks are one per family of
//! [`w2s_train::synth::Family`], generator seed 0, generated once into
//! `.w2s/tasks/` (in a child process, like every task: see
//! [`crate::task_cmd::generate_in_child`]) and reused after that when their
//! recorded config matches. Each method runs on each task through the
//! normal evaluation path ([`crate::eval::evaluate`]): host-chosen seeds
//! from the evaluator's secret, the sandbox under the policy, one scorer
//! child per evaluation. A method whose evaluation fails is recorded with
//! its error and the bench goes on; a missing component stops it before
//! anything runs. Evaluations run one after the other: each already keeps
//! the machine's cores busy (the scorer's baselines, candle's kernels), and
//! running them in parallel would make the wall times meaningless.

mod discussion;
mod methods_file;
mod results;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use w2s_train::synth::{Family, SynthConfig};

use crate::eval::{SandboxArgs, evaluate, load_with, open_task};
use crate::evaluation::Options;
use crate::report::{Report, Versions};
use crate::seeds::{SeedArgs, SeedSource};
use results::{Bench, Cell, FamilyResult, MethodInfo, Parts, Scored};

/// Benchmarks.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Run every method of plugins/methods.toml on every task family and
    /// write docs/RESULTS.md.
    Methods(MethodsArgs),
}

/// Arguments of `w2s bench methods`.
#[derive(Args)]
pub(crate) struct MethodsArgs {
    /// Only these methods (plugin names, comma-separated) [default: all].
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Only these families (comma-separated) [default: all four].
    #[arg(long, value_delimiter = ',')]
    families: Vec<Family>,
    /// Small tasks and each method's `smoke_config` (a check that every
    /// method runs, not a measurement).
    #[arg(long)]
    smoke: bool,
    /// Where to write the results.
    #[arg(long, default_value = "docs/RESULTS.md")]
    out: PathBuf,
    /// The list of methods.
    #[arg(long, default_value = "plugins/methods.toml")]
    methods_file: PathBuf,
    /// Where the components are.
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    wasm_dir: PathBuf,
    /// Where the family tasks are generated and cached.
    #[arg(long, default_value = ".w2s/tasks")]
    tasks_dir: PathBuf,
    #[command(flatten)]
    seeds: SeedArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Pool and test sizes of the smoke tasks.
const SMOKE_POOL: u32 = 800;
const SMOKE_TEST: u32 = 400;

pub(crate) fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Methods(args) => methods(&args),
    }
}

/// The task of `family` and its directory under `tasks_dir` (the latent
/// family's full task is the default task, `.w2s/tasks/default`).
fn family_task(family: Family, smoke: bool, tasks_dir: &Path) -> (SynthConfig, PathBuf) {
    let mut cfg = SynthConfig::family_task(family, 0);
    if smoke {
        cfg.name = format!("{}-smoke", cfg.name);
        cfg.pool = SMOKE_POOL;
        cfg.test = SMOKE_TEST;
    }
    let dir = if family.is_latent() && !smoke {
        tasks_dir.join("default")
    } else {
        tasks_dir.join(&cfg.name)
    };
    (cfg, dir)
}

/// Generates the task unless it is there; refuses one generated from
/// another config.
fn ensure_family_task(cfg: &SynthConfig, dir: &Path) -> Result<()> {
    if dir.join(w2s_train::bundle::MANIFEST).exists() {
        let (manifest, _) = w2s_train::bundle::Manifest::read(dir)?;
        let expected = serde_json::to_string(cfg).expect("config serializes");
        if manifest.provenance.get("config") != Some(&expected) {
            bail!(
                "{} holds a task generated from another config than family {}'s; delete it to regenerate",
                dir.display(),
                cfg.family
            );
        }
        return Ok(());
    }
    crate::task_cmd::ensure_task(dir, cfg)
}

/// The command line as a person would type it.
fn command_line() -> String {
    let mut words = vec!["w2s".to_owned()];
    for a in std::env::args().skip(1) {
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            words.push(format!("'{}'", a.replace('\'', "'\\''")));
        } else {
            words.push(a);
        }
    }
    words.join(" ")
}

/// The figures of one evaluation's report, or why there are none.
fn scored(report: &Report) -> Result<Scored, String> {
    let failures: Vec<String> = report
        .runs
        .iter()
        .filter(|r| r.outcome.code != "completed")
        .map(|r| r.outcome.code.to_owned())
        .collect();
    let Some(score) = &report.score else {
        let first = report
            .runs
            .iter()
            .find(|r| r.outcome.code != "completed")
            .map_or(String::new(), |r| format!(": {}", r.outcome.message));
        return Err(format!("no run completed ({}){first}", failures.join(", ")));
    };
    let (Some(private_pgr), Some(public_pgr), Some(private_student), Some(public_student)) = (
        score.private.pgr.clone(),
        score.public.pgr.clone(),
        score.private.student_acc.clone(),
        score.public.student_acc.clone(),
    ) else {
        return Err(format!("no run was scored ({})", failures.join(", ")));
    };
    Ok(Scored {
        private_pgr,
        public_pgr,
        private_student,
        public_student,
        completed: report.completed(),
        runs: report.runs.len(),
        failures,
    })
}

/// One method on one task: the report, or the error that stopped it.
fn evaluate_one(
    args: &MethodsArgs,
    wasm: &Path,
    config: &str,
    task_dir: &Path,
) -> Result<(Report, String)> {
    let sub = load_with(wasm, &args.sandbox)?;
    let view = open_task(task_dir, args.sandbox.device)?;
    let seeds = args.seeds.plan(&sub.wasm_sha256, &view.task.task_hash)?;
    let seed_source = match seeds.source {
        SeedSource::Secret => format!(
            "host-chosen from the evaluator's secret (commitment sha256:{})",
            seeds.secret_commitment.as_deref().unwrap_or("?")
        ),
        SeedSource::Flag => "given with --seed (not rankable)".to_owned(),
    };
    let opts = Options {
        config: config.to_owned(),
        seeds,
        controls: false,
    };
    Ok((evaluate(&sub, &view, &opts, None)?, seed_source))
}

fn methods(args: &MethodsArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let methods = methods_file::select(methods_file::read(&args.methods_file)?, &args.methods)?;
    for m in &methods {
        let wasm = m.wasm(&args.wasm_dir);
        if !wasm.exists() {
            bail!(
                "{} (method {}) is missing: build the plugins with scripts/build-plugins.sh",
                wasm.display(),
                m.plugin
            );
        }
    }
    let families = if args.families.is_empty() {
        Family::ALL.to_vec()
    } else {
        args.families.clone()
    };
    let policy = crate::policy_cmd::effective(args.sandbox.policy.as_deref())?;
    let mut infos: Vec<MethodInfo> = methods
        .iter()
        .map(|m| MethodInfo {
            config: if args.smoke {
                m.smoke_config.clone()
            } else {
                m.config.clone()
            },
            wasm_sha256: None,
            method: m.clone(),
        })
        .collect();
    let (mut seed_source, mut seeds_per_eval) = (String::new(), 0);
    let mut results = Vec::new();
    for &family in &families {
        let (cfg, dir) = family_task(family, args.smoke, &args.tasks_dir);
        ensure_family_task(&cfg, &dir)
            .with_context(|| format!("cannot prepare the {family} task"))?;
        let task_hash = w2s_train::bundle::Manifest::read(&dir)?.1;
        let mut fr = FamilyResult {
            family,
            task_name: cfg.name.clone(),
            task_hash,
            weak: None,
            ceiling: None,
            cells: Vec::new(),
        };
        for info in &mut infos {
            eprintln!("bench: {} on {family}...", info.method.plugin);
            let t = Instant::now();
            let wasm = info.method.wasm(&args.wasm_dir);
            let outcome = match evaluate_one(args, &wasm, &info.config, &dir) {
                Ok((report, source)) => {
                    seed_source = source;
                    seeds_per_eval = report.seeds.values.len();
                    info.wasm_sha256 = Some(report.wasm.sha256.clone());
                    if let (None, Some(s)) = (&fr.weak, &report.score) {
                        fr.weak = Some(Parts {
                            public: s.baselines.weak.public_acc,
                            private: s.baselines.weak.private_acc,
                        });
                        fr.ceiling = Some(Parts {
                            public: s.public.ceiling_acc,
                            private: s.private.ceiling_acc,
                        });
                    }
                    scored(&report)
                }
                Err(e) => Err(format!("{e:#}")),
            };
            if let Err(e) = &outcome {
                eprintln!("bench: {} on {family} failed: {e}", info.method.plugin);
            }
            fr.cells.push(Cell {
                outcome,
                wall_s: t.elapsed().as_secs_f64(),
            });
        }
        results.push(fr);
    }
    let all_ok = results.iter().all(|f| {
        f.cells
            .iter()
            .all(|c| matches!(&c.outcome, Ok(s) if s.failures.is_empty()))
    });
    let bench = Bench {
        command: command_line(),
        smoke: args.smoke,
        seeds: seeds_per_eval,
        seed_source,
        policy: format!("{} (sha256:{})", policy.source, policy.sha256),
        versions: Versions::current(),
        methods: infos,
        families: results,
        total_wall_s: start.elapsed().as_secs_f64(),
    };
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&args.out, results::render(&bench))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} methods × {} families, {:.1} s)",
        args.out.display(),
        bench.methods.len(),
        bench.families.len(),
        bench.total_wall_s
    );
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
