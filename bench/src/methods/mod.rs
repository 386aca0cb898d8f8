//! `w2s bench methods`: every method plugin on every task family, written
//! up as `docs/RESULTS.md`; or on any bundles given with `--task` (a task
//! built from language models, say), whose results file names each task's
//! models, layers, dataset and task card from the manifest's provenance
//! ([`tasks_md`]).
//!
//! The methods are the `[[method]]` entries of `plugins/methods.toml`
//! ([`methods_file`]); the tasks are one per family of
//! [`w2s_train::synth::Family`], generator seed 0, generated once into
//! `.w2s/tasks/` (in a child process, like every task: see
//! [`w2s_eval::task::ensure_task`]) and reused after that when their
//! recorded config matches. Each method runs on each task through the
//! normal evaluation path ([`w2s_eval::Evaluation`]): host-chosen seeds
//! from the evaluator's secret, the sandbox under the policy, one scorer
//! child per evaluation. A method whose evaluation fails is recorded with
//! its error and the bench goes on; a missing component stops it before
//! anything runs. Evaluations run one after the other: each already keeps
//! the machine's cores busy (the scorer's baselines, candle's kernels), and
//! running them in parallel would make the wall times meaningless.

mod discussion;
mod methods_file;
mod orderings;
mod results;
mod tasks_md;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use w2s_eval::report::Versions;
use w2s_eval::seeds::SeedSource;
use w2s_eval::{
    Evaluation, Executable, PolicyInfo, ProgressSink, Report, SeedRequest, Submission, Task,
};
use w2s_train::synth::{Family, SynthConfig};

use results::{Bench, Cell, MethodInfo, Parts, Scored, TaskKind, TaskResult};

/// What `w2s bench methods` runs, and where it writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only these methods (plugin names) [empty: all].
    pub methods: Vec<String>,
    /// Only these families [empty: all four, unless `tasks` is given].
    pub families: Vec<Family>,
    /// Task bundles to run on, after the families [empty: none].
    pub tasks: Vec<PathBuf>,
    /// Also run the teacher-ablation controls in every evaluation.
    pub controls: bool,
    /// Small tasks and each method's `smoke_config` (a check that every
    /// method runs, not a measurement).
    pub smoke: bool,
    /// Where to write the results.
    pub out: PathBuf,
    /// The list of methods.
    pub methods_file: PathBuf,
    /// Where the components are.
    pub wasm_dir: PathBuf,
    /// Where the family tasks are generated and cached.
    pub tasks_dir: PathBuf,
    /// How each evaluation's seeds are chosen.
    pub seeds: SeedRequest,
    /// The sandbox policy.
    pub policy: PolicyInfo,
    /// Directory of compiled components.
    pub cache_dir: PathBuf,
    /// Where audit logs go, if anywhere.
    pub audit: Option<PathBuf>,
    /// Where the students train [`cpu` in `w2s bench methods`' default].
    pub device: w2s_train::device::DeviceSpec,
    /// The command line, as the results file records it.
    pub command: String,
}

/// Pool and test sizes of the smoke tasks.
const SMOKE_POOL: u32 = 800;
const SMOKE_TEST: u32 = 400;

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
fn ensure_family_task(
    exe: &Executable,
    cfg: &SynthConfig,
    dir: &Path,
    progress: &dyn ProgressSink,
) -> Result<()> {
    let whose = format!("family {}'s", cfg.family);
    if !w2s_eval::task::holds_task_of(dir, cfg, &whose)? {
        w2s_eval::task::ensure_task(exe, dir, cfg, progress)?;
    }
    Ok(())
}

/// The figures of one evaluation's report, or why there are none.
fn scored(report: &Report) -> Result<Scored, String> {
    let failures: Vec<String> = report
        .runs
        .iter()
        .filter(|r| !r.outcome.completed())
        .map(|r| r.outcome.code.to_owned())
        .collect();
    let Some(score) = &report.score else {
        let first = report
            .runs
            .iter()
            .find(|r| !r.outcome.completed())
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
        flags: report.flags.iter().map(|f| f.code.to_owned()).collect(),
    })
}

/// One method on one task: the report and where its seeds came from, or
/// the error that stopped it.
fn evaluate_one(
    exe: &Executable,
    opts: &Options,
    (wasm, config): (&Path, &str),
    task_dir: &Path,
    progress: &dyn ProgressSink,
) -> Result<(Report, String)> {
    let sub = Submission::load(exe, wasm, opts.policy.clone(), &opts.cache_dir)?
        .with_audit(opts.audit.clone());
    let task = Task::open_on(task_dir, opts.device)?;
    let seeds = opts.seeds.plan(sub.wasm_sha256(), task.hash())?;
    let seed_source = match seeds.source {
        SeedSource::Secret => format!(
            "host-chosen from the evaluator's secret (commitment sha256:{})",
            seeds.secret_commitment.as_deref().unwrap_or("?")
        ),
        SeedSource::Flag => "given with --seed (not rankable)".to_owned(),
    };
    let report = Evaluation::new(&task, &sub, seeds)
        .config(config)
        .controls(opts.controls)
        .run(progress)?;
    Ok((report, seed_source))
}

/// What a benchmark run wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    /// Methods benchmarked.
    pub methods: usize,
    /// Tasks (families and bundles).
    pub families: usize,
    /// Wall time of the whole benchmark, in seconds.
    pub total_wall_s: f64,
    /// Whether every run of every method completed and was scored.
    pub all_ok: bool,
}

/// Runs the benchmark and writes the results file to `opts.out`.
pub fn run(exe: &Executable, opts: &Options, progress: &dyn ProgressSink) -> Result<Written> {
    let start = Instant::now();
    let methods = methods_file::select(methods_file::read(&opts.methods_file)?, &opts.methods)?;
    for m in &methods {
        let wasm = m.wasm(&opts.wasm_dir);
        if !wasm.exists() {
            bail!(
                "{} (method {}) is missing: build the plugins with scripts/build-plugins.sh \
                 (the Python ones, python-*, with scripts/build-python-plugins.sh)",
                wasm.display(),
                m.plugin
            );
        }
    }
    let families = if opts.families.is_empty() && opts.tasks.is_empty() {
        Family::ALL.to_vec()
    } else {
        opts.families.clone()
    };
    let mut infos: Vec<MethodInfo> = methods
        .iter()
        .map(|m| MethodInfo {
            config: if opts.smoke {
                m.smoke_config.clone()
            } else {
                m.config.clone()
            },
            wasm_sha256: None,
            method: m.clone(),
        })
        .collect();
    let mut tasks = Vec::new();
    for &family in &families {
        let (cfg, dir) = family_task(family, opts.smoke, &opts.tasks_dir);
        ensure_family_task(exe, &cfg, &dir, progress)
            .with_context(|| format!("cannot prepare the {family} task"))?;
        tasks.push((family.to_string(), TaskKind::Family(family), dir));
    }
    for dir in &opts.tasks {
        let (manifest, _) = w2s_train::bundle::Manifest::read(dir)
            .with_context(|| format!("cannot read the task bundle {}", dir.display()))?;
        let kind = TaskKind::Bundle {
            dir: dir.display().to_string(),
            provenance: manifest.provenance.clone(),
        };
        tasks.push((manifest.name.clone(), kind, dir.clone()));
    }
    let (mut seed_source, mut seeds_per_eval) = (String::new(), 0);
    let mut results = Vec::new();
    for (label, kind, dir) in tasks {
        let (manifest, task_hash) = w2s_train::bundle::Manifest::read(&dir)?;
        let mut fr = TaskResult {
            label,
            kind,
            task_name: manifest.name,
            task_hash,
            weak: None,
            ceiling: None,
            cells: Vec::new(),
        };
        for info in &mut infos {
            let label = &fr.label;
            progress.note(&format!("bench: {} on {label}...", info.method.plugin));
            let t = Instant::now();
            let wasm = info.method.wasm(&opts.wasm_dir);
            let method = (wasm.as_path(), info.config.as_str());
            let outcome = match evaluate_one(exe, opts, method, &dir, progress) {
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
                progress.note(&format!(
                    "bench: {} on {label} failed: {e}",
                    info.method.plugin
                ));
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
        command: opts.command.clone(),
        smoke: opts.smoke,
        seeds: seeds_per_eval,
        seed_source,
        policy: format!("{} (sha256:{})", opts.policy.source, opts.policy.sha256),
        versions: Versions::current(),
        methods: infos,
        families: results,
        total_wall_s: start.elapsed().as_secs_f64(),
        controls: opts.controls,
    };
    if let Some(parent) = opts.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&opts.out, results::render(&bench))
        .with_context(|| format!("cannot write {}", opts.out.display()))?;
    Ok(Written {
        methods: bench.methods.len(),
        families: bench.families.len(),
        total_wall_s: bench.total_wall_s,
        all_ok,
    })
}
