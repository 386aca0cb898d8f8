//! `w2s policy check` and `w2s policy explain`, and reading the policy
//! that `eval` and `run` enforce.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;
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

/// Where the policy of a run came from, and what it is.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PolicyInfo {
    /// `built-in default` or the file's name as given.
    pub(crate) source: String,
    /// sha256 of `effective`'s canonical JSON (see docs/POLICY.md).
    pub(crate) sha256: String,
    /// The policy in force, every default filled in.
    pub(crate) effective: Policy,
}

/// Reads and validates a policy file; the error names the file.
pub(crate) fn read(path: &Path) -> Result<Policy> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Policy::from_toml_str(&text).with_context(|| format!("{}", path.display()))
}

/// The policy a run uses: `path`, or the built-in default.
pub(crate) fn effective(path: Option<&Path>) -> Result<PolicyInfo> {
    let (source, policy) = match path {
        Some(p) => (p.display().to_string(), read(p)?),
        None => ("built-in default".to_owned(), Policy::default()),
    };
    Ok(PolicyInfo {
        source,
        sha256: policy.sha256(),
        effective: policy,
    })
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
