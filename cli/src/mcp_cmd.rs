//! `w2s mcp` and `w2s new`: argument parsing over the `w2s-mcp` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use w2s_mcp::local::LocalConfig;
use w2s_mcp::methods::Lang;
use w2s_mcp::remote::Remote;
use w2s_mcp::{Mode, W2sServer};

/// `w2s mcp`.
#[derive(Args)]
pub(crate) struct McpArgs {
    /// Serve streamable HTTP at `http://ADDR/mcp` instead of stdio (port 0
    /// picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Remote mode: evaluate on this `w2s serve` (`http://HOST:PORT`)
    /// instead of in this process.
    #[arg(long, value_name = "URL", requires = "token_file")]
    server: Option<String>,
    /// The submitter's bearer token (remote mode), one line in this file.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Local mode: the task bundles, `DIR/NAME` being task NAME.
    #[arg(long, default_value = ".w2s/tasks")]
    tasks: PathBuf,
    /// Local mode: host-chosen seeds per evaluation.
    #[arg(long, default_value_t = 5)]
    seeds: u32,
    /// Local mode: the sandbox policy [default: the built-in policy].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Local mode: the compiled-component cache.
    #[arg(long, default_value = ".w2s/cache/compiled")]
    cache_dir: PathBuf,
}

/// `w2s new`.
#[derive(Args)]
pub(crate) struct NewArgs {
    /// The project directory to create; its last component is the
    /// strategy's name.
    path: PathBuf,
    /// The language: `rust` or `python`.
    #[arg(long, default_value = "rust")]
    lang: Lang,
    /// Start from this method of plugins/methods.toml (see `w2s mcp`'s
    /// list_methods) instead of the built-in template.
    #[arg(long, value_name = "METHOD")]
    from: Option<String>,
}

pub(crate) fn mcp(args: McpArgs) -> Result<ExitCode> {
    let mode = match &args.server {
        Some(url) => {
            let file = args
                .token_file
                .as_ref()
                .context("--server needs --token-file")?;
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            Mode::Remote(Remote::new(url, token)?)
        }
        None => {
            anyhow::ensure!(args.seeds >= 1, "--seeds must be at least 1");
            Mode::Local(LocalConfig {
                tasks_dir: args.tasks,
                seeds: args.seeds,
                policy: args.policy,
                cache_dir: args.cache_dir,
                ..LocalConfig::default()
            })
        }
    };
    let exe = std::env::current_exe().context("cannot locate the w2s executable")?;
    let server = W2sServer::new(mode, exe);
    match &args.http {
        Some(addr) => w2s_mcp::serve_http(server, addr)?,
        None => w2s_mcp::serve_stdio(server)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn new(args: NewArgs) -> Result<ExitCode> {
    let project = w2s_mcp::scaffold::create(&args.path, args.lang, args.from.as_deref())?;
    println!(
        "created {} ({:?}) in {}",
        project.name,
        project.lang,
        project.dir.display()
    );
    println!("edit     {}", project.strategy_file.display());
    println!(
        "build    cd {} && {}",
        project.dir.display(),
        project.build_command
    );
    Ok(ExitCode::SUCCESS)
}
