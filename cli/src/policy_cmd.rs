//! `w2s policy check` and `w2s policy explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;
use w2s_eval::policy::read;
use w2s_policy::Policy;
use w2s_policy::explain::Explanation;

/// `w2s policy ...`.
#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check a policy file: print `ok` and its sha256 and exit 0, or print
    /// the one-line error and exit 1.
    Check {
        /// The policy file (TOML, version 1).
        file: PathBuf,
    },
    /// Explain a policy file in plain words: each capability granted or
    /// denied, each limit with its unit.
    Explain {
        /// The policy file (TOML, version 1).
        file: PathBuf,
        /// Print the same as JSON, with the effective policy.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct ExplainJson<'a> {
    file: String,
    explanation: &'a Explanation,
    effective_policy: &'a Policy,
}

pub(crate) fn run(cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file } => {
            let policy = read(&file)?;
            println!("ok: {} (sha256 {})", file.display(), policy.sha256());
        }
        PolicyCommand::Explain { file, json } => {
            let policy = read(&file)?;
            let explanation = Explanation::of(&policy);
            if json {
                let out = ExplainJson {
                    file: file.display().to_string(),
                    explanation: &explanation,
                    effective_policy: &policy,
                };
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("Policy {}", file.display());
                print!("{}", explanation.to_text());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
