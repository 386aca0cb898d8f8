//! `w2s task synth` and `w2s task check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use w2s_train::synth::{self, SynthConfig};

/// Task bundle commands.
#[derive(Subcommand)]
pub(crate) enum TaskCommand {
    /// Generate a synthetic task bundle (see docs/TASK_FORMAT.md).
    Synth {
        /// Seed of everything random in the bundle.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output directory (must not exist, or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Multiply every split size by this factor (larger tasks).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        scale: u32,
        /// Task name written into the manifest.
        #[arg(long)]
        name: Option<String>,
    },
    /// Validate a bundle: hashes, shapes, label ranges, NaN and Inf.
    Check {
        /// The bundle directory.
        dir: PathBuf,
    },
}

pub(crate) fn run(cmd: TaskCommand) -> Result<ExitCode> {
    match cmd {
        TaskCommand::Synth {
            seed,
            out,
            scale,
            name,
        } => {
            let mut cfg = SynthConfig::default_task(seed).scaled(scale);
            if let Some(name) = name {
                cfg.name = name;
            }
            let summary = synth::generate(&cfg, &out)
                .with_context(|| format!("cannot generate a task in {}", out.display()))?;
            println!(
                "wrote {} (pool {}, test {}, {} classes, {} features); weak teacher test accuracy {:.4}",
                out.display(),
                cfg.pool,
                cfg.test,
                cfg.classes,
                cfg.feature_dim,
                summary.weak_test_acc
            );
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Check { dir } => {
            let s = w2s_scorer::check::check_bundle(&dir)?;
            println!(
                "ok: {} (task hash {}): {} classes, {} features, pool {}, test {}, weak_acc {:.4}",
                s.name, s.task_hash, s.classes, s.feature_dim, s.pool, s.test, s.weak_acc
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Generates the default task into `dir` if it has no manifest yet.
pub(crate) fn ensure_default_task(dir: &Path) -> Result<()> {
    if dir.join(w2s_train::bundle::MANIFEST).exists() {
        return Ok(());
    }
    eprintln!("generating the default task in {} (once)...", dir.display());
    let tmp = dir.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
    }
    synth::generate(&SynthConfig::default_task(0), &tmp)
        .context("cannot generate the default task")?;
    std::fs::rename(&tmp, dir)
        .with_context(|| format!("cannot move the default task to {}", dir.display()))?;
    Ok(())
}
