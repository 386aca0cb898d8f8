//! `w2s task synth` and `w2s task check`.
//!
//! Generating a task writes its `heldout/` part and holds its ground truth
//! in memory, so the process that runs guest code never generates one
//! itself: the evaluation library runs `w2s task synth` as a child process
//! (for the default task and the suite's tasks: see
//! [`w2s_eval::task::ensure_task`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use w2s_train::synth::{self, Family, SynthConfig};

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
        /// Task name written into the manifest [default: synth-default, or
        /// synth-FAMILY for another family].
        #[arg(long)]
        name: Option<String>,
        /// How the weak teacher goes wrong: latent (or default), label-noise,
        /// slice-errors, spurious-cue (see docs/TASK_FORMAT.md).
        #[arg(long, default_value = "latent")]
        family: Family,
        /// The whole generator config as JSON (every field of the story,
        /// see docs/TASK_FORMAT.md); replaces --seed, --scale, --name and
        /// --family.
        #[arg(long, value_name = "JSON", conflicts_with_all = ["seed", "scale", "name", "family"])]
        config_json: Option<String>,
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
            family,
            config_json,
        } => {
            let cfg = match config_json {
                Some(json) => serde_json::from_str(&json).context("--config-json")?,
                None => {
                    let mut cfg = SynthConfig::family_task(family, seed).scaled(scale);
                    if let Some(name) = name {
                        cfg.name = name;
                    }
                    cfg
                }
            };
            let summary = synth::generate(&cfg, &out)
                .with_context(|| format!("cannot generate a task in {}", out.display()))?;
            println!(
                "wrote {} ({} family, pool {}, test {}, {} classes, {} features); weak teacher test accuracy {:.4}",
                out.display(),
                cfg.family,
                cfg.pool,
                cfg.test,
                cfg.classes,
                cfg.feature_dim,
                summary.weak_test_acc
            );
            for g in &summary.groups {
                println!(
                    "  teacher test accuracy {} (n = {}): {:.4}",
                    g.group, g.n, g.acc
                );
            }
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
