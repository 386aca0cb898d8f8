//! `w2s bench methods`: its arguments. The benchmark itself is
//! [`w2s_bench::methods`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use w2s_eval::{Executable, PolicyInfo};
use w2s_train::synth::Family;

use crate::eval_args::{SandboxArgs, status};
use crate::progress::Bars;
use crate::seeds::SeedArgs;

/// Benchmarks.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Run every method of plugins/methods.toml on every task family (or
    /// on the bundles given with --task) and write docs/RESULTS.md (or
    /// --out).
    Methods(MethodsArgs),
}

/// Arguments of `w2s bench methods`.
#[derive(Args)]
pub(crate) struct MethodsArgs {
    /// Only these methods (plugin names, comma-separated) [default: all].
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Only these families (comma-separated) [default: all four, or none
    /// when --task is given].
    #[arg(long, value_delimiter = ',')]
    families: Vec<Family>,
    /// A task bundle to run every method on (repeatable), e.g. one built
    /// with `w2s task build`; the results file names its models, layers,
    /// dataset and task card.
    #[arg(long = "task", value_name = "DIR")]
    tasks: Vec<PathBuf>,
    /// Also run the teacher-ablation controls in every evaluation (their
    /// flags go into the results file).
    #[arg(long)]
    controls: bool,
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

pub(crate) fn run(cmd: BenchCommand) -> Result<ExitCode> {
    let BenchCommand::Methods(args) = cmd;
    let options = w2s_bench::methods::Options {
        methods: args.methods,
        families: args.families,
        tasks: args.tasks,
        controls: args.controls,
        smoke: args.smoke,
        out: args.out,
        methods_file: args.methods_file,
        wasm_dir: args.wasm_dir,
        tasks_dir: args.tasks_dir,
        seeds: args.seeds.request(),
        policy: PolicyInfo::effective(args.sandbox.policy.as_deref())?,
        cache_dir: args.sandbox.cache_dir,
        audit: args.sandbox.audit,
        device: args.sandbox.device,
        command: command_line(),
    };
    let written = w2s_bench::methods::run(&Executable::current()?, &options, &Bars::default())?;
    println!(
        "wrote {} ({} methods × {} tasks, {:.1} s)",
        options.out.display(),
        written.methods,
        written.families,
        written.total_wall_s
    );
    Ok(status(written.all_ok))
}
