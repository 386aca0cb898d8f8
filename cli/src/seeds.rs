//! `--seeds N`, `--seed S`, `--secret-file PATH`: how an evaluation's seeds
//! are chosen (see [`w2s_eval::seeds`]).

use std::path::PathBuf;

use clap::Args;
use w2s_eval::SeedRequest;
use w2s_eval::seeds::{DEFAULT_SECRET_FILE, DEFAULT_SEEDS, MAX_SEEDS};

/// How the seeds are chosen.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct SeedArgs {
    /// Number of seeds, chosen by the host from the evaluator's secret and
    /// the submission's hash [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SEEDS)), conflicts_with = "seed")]
    seeds: Option<u32>,
    /// Run under exactly this seed instead (repeat for several). For local
    /// iteration: the report says so and is not rankable.
    #[arg(long)]
    seed: Vec<u64>,
    /// The evaluator's secret [default: .w2s/secret, created on first use].
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
}

impl SeedArgs {
    /// The request these flags make.
    pub(crate) fn request(&self) -> SeedRequest {
        SeedRequest {
            given: self.seed.clone(),
            count: self.seeds.unwrap_or(DEFAULT_SEEDS),
            secret_file: self
                .secret_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SECRET_FILE)),
        }
    }
}
