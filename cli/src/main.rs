//! `w2s`: evaluate weak-to-strong strategies compiled to WebAssembly.
//!
//! This crate parses arguments, prints tables and glues subcommands to
//! the evaluation library, `w2s-eval`, which owns the evaluation: `w2s
//! eval` runs the strategy in the sandbox (this process; it opens only the
//! public part of the task) and the library starts `w2s score` as a child
//! process, which alone reads the held-out data. See the README.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod compile_cmd;
mod eval;
mod eval_args;
mod guest_cmd;
mod mcp_cmd;
mod policy_cmd;
mod progress;
mod progress_lines;
mod replay;
mod score_cmd;
mod seeds;
mod service_cmd;
mod suite;
mod task_cmd;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Evaluate weak-to-strong training strategies compiled to WebAssembly.
#[derive(Parser)]
#[command(name = "w2s", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a strategy in the sandbox, score its student, print the PGR report.
    Eval(eval::EvalArgs),
    /// Run a strategy in the sandbox and write its student checkpoint,
    /// without scoring (needs only the public part of the task).
    Run(eval::RunArgs),
    /// Score student checkpoints on a task's held-out data (prints JSON).
    Score(score_cmd::ScoreArgs),
    /// Run an evaluation again from its report and compare bit for bit.
    Replay(replay::ReplayArgs),
    /// Generate or check task bundles.
    #[command(subcommand)]
    Task(task_cmd::TaskCommand),
    /// Check or explain a sandbox policy file.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Benchmark the method plugins on the task families (docs/RESULTS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Build strategies written in Python into components.
    #[command(subcommand)]
    Guest(guest_cmd::GuestCommand),
    /// Compile a component under an address-space limit (started by `eval`
    /// and `run`; not for direct use).
    #[command(hide = true)]
    Compile(compile_cmd::CompileArgs),
    /// Run the evaluation service: HTTP API, dashboard, local workers.
    Serve(service_cmd::ServeArgs),
    /// Run evaluation workers against the service's database (no HTTP).
    Worker(service_cmd::WorkerArgs),
    /// Manage submitters' bearer tokens.
    #[command(subcommand)]
    Token(service_cmd::TokenCommand),
    /// Serve the evaluator to AI agents over MCP (stdio or streamable HTTP).
    Mcp(mcp_cmd::McpArgs),
    /// Write a new strategy project that builds offline as generated.
    New(mcp_cmd::NewArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => eval::eval(args),
        Command::Run(args) => eval::run_only(args),
        Command::Score(args) => score_cmd::score(args),
        Command::Replay(args) => replay::replay(args),
        Command::Task(cmd) => task_cmd::run(cmd),
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Guest(cmd) => guest_cmd::run(cmd),
        Command::Compile(args) => compile_cmd::compile(args),
        Command::Serve(args) => service_cmd::serve(args),
        Command::Worker(args) => service_cmd::worker(args),
        Command::Token(cmd) => service_cmd::token(cmd),
        Command::Mcp(args) => mcp_cmd::mcp(args),
        Command::New(args) => mcp_cmd::new(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line that names the problem: the chain, joined.
            let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
            // Printable: a chain can quote a component (its import names).
            eprintln!("error: {}", w2s_host::printable(&chain.join(": ")));
            ExitCode::from(1)
        }
    }
}

/// The default task directory, relative to the working directory.
pub(crate) fn default_task_dir() -> PathBuf {
    PathBuf::from(".w2s/tasks/default")
}
