//! `w2s task synth`, `w2s task build` and `w2s task check`.
//!
//! Generating a task writes its `heldout/` part and holds its ground truth
//! in memory, so the process that runs guest code never generates one
//! itself: the evaluation library runs `w2s task synth` as a child process
//! (for the default task and the suite's tasks: see
//! [`w2s_eval::task::ensure_task`]).

use std::io::IsTerminal;
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
    /// Build a task bundle from real language models and a real dataset
    /// (see docs/TASK_FORMAT.md, "Real tasks").
    Build(Box<BuildArgs>),
    /// Validate a bundle: hashes, shapes, label ranges, NaN and Inf.
    Check {
        /// The bundle directory.
        dir: PathBuf,
    },
}

/// `w2s task build`: the flags of [`w2s_taskbuild::BuildConfig`].
#[derive(clap::Args)]
pub(crate) struct BuildArgs {
    /// The dataset: a directory with train_label.jsonl, train_unlabel.jsonl
    /// and test.jsonl (aar-* formats), or one JSONL file (jsonl).
    #[arg(long)]
    data: PathBuf,
    /// aar-chat, aar-math, aar-code, or jsonl ({"text", "label"} rows).
    #[arg(long)]
    format: w2s_taskbuild::dataset::Format,
    /// The strong model: a Hugging Face directory (config.json,
    /// tokenizer.json, *.safetensors) or a GGUF file (dequantized to f32;
    /// config and tokenizer from its metadata).
    #[arg(long)]
    strong: PathBuf,
    /// The weak model: a directory or a GGUF file, as --strong.
    #[arg(long)]
    weak: PathBuf,
    /// The strong model's tokenizer.json, for a GGUF file whose tokenizer
    /// cannot be rebuilt from its metadata (GGUF only).
    #[arg(long, value_name = "TOKENIZER_JSON")]
    tokenizer: Option<PathBuf>,
    /// The weak model's tokenizer.json (GGUF only), as --tokenizer.
    #[arg(long, value_name = "TOKENIZER_JSON")]
    weak_tokenizer: Option<PathBuf>,
    /// Output bundle directory (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// The strong model's feature layer, 0..=num_layers [default: the middle].
    #[arg(long)]
    layer: Option<usize>,
    /// The weak model's feature layer [default: its middle].
    #[arg(long)]
    weak_layer: Option<usize>,
    /// last-token or mean.
    #[arg(long, default_value = "last-token")]
    pooling: w2s_lm::Pooling,
    /// Seed of the jsonl split rule and of the weak probe.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// jsonl only: fractions for the labeled and test splits (the pool gets
    /// the rest).
    #[arg(long, default_value = "labeled=0.25,test=0.25")]
    split: w2s_taskbuild::dataset::SplitRule,
    /// jsonl only: number of classes [default: 2].
    #[arg(long)]
    classes: Option<u32>,
    /// Most tokens per text; longer texts keep their last tokens.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    /// Texts per forward batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Activation cache directory.
    #[arg(long, default_value = ".w2s/activations")]
    cache_dir: PathBuf,
    /// Run the models even if the cache holds their features.
    #[arg(long)]
    no_cache: bool,
    /// Weak probe: epochs over the labeled split.
    #[arg(long, default_value_t = 30)]
    probe_epochs: u32,
    /// Weak probe: AdamW learning rate.
    #[arg(long, default_value_t = 1e-2)]
    probe_lr: f32,
    /// Weak probe: batch size.
    #[arg(long, default_value_t = 64)]
    probe_batch_size: u32,
    /// Write the strong features raw instead of standardized by the pool.
    #[arg(long)]
    raw_features: bool,
    /// Task name [default: FORMAT-STRONGNAME].
    #[arg(long)]
    name: Option<String>,
    /// The ceiling recipe of lm-lora students, `key=value,...` over the
    /// AAR's vanilla setting (rank 32, alpha 32, rsLoRA, lr 1e-4, batch
    /// 32, 5 epochs, warmup 0.1): keys rank, alpha, rslora, lr, batch,
    /// epochs, warmup, head.
    #[arg(long, value_name = "SETTINGS")]
    lora_ceiling: Option<String>,
    /// Names recorded for the models [default: their directory names].
    #[arg(long)]
    strong_name: Option<String>,
    /// See --strong-name.
    #[arg(long)]
    weak_name: Option<String>,
    /// The dataset's revision (a commit or version), recorded in provenance.
    #[arg(long)]
    dataset_revision: Option<String>,
    /// Seconds between progress lines when stderr is not a terminal (where
    /// the progress bar hides itself).
    #[arg(long, default_value_t = 10.0, hide = true)]
    progress_every: f64,
    /// Where the models run: `cpu`, or `cuda`/`cuda:N` in a build with the
    /// `cuda` feature (scripts/build-cuda.sh).
    #[arg(long, default_value = "cpu", value_parser = w2s_train::device::parse_device)]
    device: w2s_train::device::DeviceSpec,
}

fn build(args: BuildArgs) -> Result<ExitCode> {
    let device = args.device.open()?;
    if !(args.progress_every.is_finite() && args.progress_every >= 0.0) {
        anyhow::bail!(
            "--progress-every must be a non-negative number of seconds, got {}",
            args.progress_every
        );
    }
    let mut lines = (!std::io::stderr().is_terminal()).then(|| {
        crate::progress_lines::ProgressLines::new(
            std::io::stderr(),
            std::time::Duration::from_secs_f64(args.progress_every),
        )
    });
    let cfg = w2s_taskbuild::BuildConfig {
        data: args.data,
        format: args.format,
        split_rule: args.split,
        classes: args.classes,
        dataset_revision: args.dataset_revision,
        strong: args.strong,
        weak: args.weak,
        strong_tokenizer: args.tokenizer,
        weak_tokenizer: args.weak_tokenizer,
        strong_name: args.strong_name,
        weak_name: args.weak_name,
        layer: args.layer,
        weak_layer: args.weak_layer,
        pooling: args.pooling,
        max_tokens: args.max_tokens,
        batch_size: args.batch_size,
        cache_dir: (!args.no_cache).then_some(args.cache_dir),
        probe: w2s_taskbuild::probe::ProbeSettings {
            epochs: args.probe_epochs,
            learning_rate: args.probe_lr,
            batch_size: args.probe_batch_size,
        },
        scaling: if args.raw_features {
            w2s_taskbuild::FeatureScaling::None
        } else {
            w2s_taskbuild::FeatureScaling::Standardize
        },
        seed: args.seed,
        name: args.name,
        out: args.out,
        lora_ceiling: args.lora_ceiling,
    };
    let mut bars: Vec<(String, indicatif::ProgressBar)> = Vec::new();
    let s = w2s_taskbuild::build(&cfg, &device, &mut |model, p| {
        if let Some(lines) = &mut lines {
            lines.update(model, &p);
            return;
        }
        if bars.last().is_none_or(|(m, _)| m != model) {
            bars.push((
                model.to_owned(),
                crate::progress::tokens_bar(model, p.tokens_total as u64),
            ));
        }
        let bar = &bars.last().expect("pushed").1;
        bar.set_position(p.tokens_done as u64);
        bar.set_message(format!("{}/{} texts", p.texts_done, p.texts_total));
    })
    .with_context(|| format!("cannot build a task in {}", cfg.out.display()))?;
    for (_, bar) in &bars {
        bar.finish();
    }
    println!(
        "wrote {} ({}, task hash {}): labeled {}, pool {}, test {}, {} classes, {} features{}",
        cfg.out.display(),
        s.name,
        s.task_hash,
        s.sizes[0],
        s.sizes[1],
        s.sizes[2],
        s.classes,
        s.feature_dim,
        if s.test_subsets > 0 {
            format!(", {} test subsets", s.test_subsets)
        } else {
            String::new()
        }
    );
    for (role, run) in [("strong", &s.strong), ("weak", &s.weak)] {
        println!(
            "  {role} {} layer {}: activations {} ({} tokens run)",
            run.name,
            run.layer,
            serde_json::to_value(&run.cache).expect("status serializes")["status"]
                .as_str()
                .unwrap_or("?"),
            run.tokens_run
        );
    }
    println!(
        "  weak probe accuracy: labeled split {:.4}, test split {:.4}",
        s.weak_train_acc, s.weak_test_acc
    );
    for line in s.card.lines() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(cmd: TaskCommand) -> Result<ExitCode> {
    match cmd {
        TaskCommand::Build(args) => build(*args),
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
                "ok: {} (task hash {}): {} classes, {} features, pool {}, test {}, weak_acc {:.4}{}",
                s.name,
                s.task_hash,
                s.classes,
                s.feature_dim,
                s.pool,
                s.test,
                s.weak_acc,
                match s.test_subsets {
                    0 => String::new(),
                    n => format!(", {n} test subsets"),
                }
            );
            let (manifest, _) = w2s_train::bundle::Manifest::read(&dir)?;
            match w2s_taskbuild::card::lines_from_provenance(&manifest.provenance) {
                Some(lines) => lines.iter().for_each(|l| println!("{l}")),
                None => println!("task card: none (built without one)"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
