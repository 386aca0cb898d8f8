//! What every evaluating command shares (`w2s eval`, `w2s run`, `w2s eval
//! --suite`, `w2s bench`, `w2s replay`): the strategy's and the sandbox's
//! arguments, the refusal line, the JSON writer and the exit status. Its
//! own module, so that `eval` and `suite` (which `eval` calls) both build
//! on it without importing each other.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use w2s_eval::{Executable, PolicyInfo, Submission};

use crate::seeds::SeedArgs;

/// Arguments shared by `eval` and `run`.
#[derive(Args)]
pub(crate) struct CommonArgs {
    /// The strategy: a wasm32-wasip2 component.
    pub(crate) wasm: PathBuf,
    /// The task bundle [default: .w2s/tasks/default, generated when missing].
    #[arg(long)]
    pub(crate) task: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) seeds: SeedArgs,
    /// Config string passed to the strategy's `run`.
    #[arg(long, default_value = "")]
    pub(crate) config: String,
    /// Also run the teacher-ablation controls (permuted labels, class
    /// prior, counterfactual teacher) under the same seeds; see
    /// docs/SCORING.md.
    #[arg(long)]
    pub(crate) controls: bool,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}

impl CommonArgs {
    /// The options of the evaluation.
    pub(crate) fn options(&self) -> w2s_eval::Options {
        w2s_eval::Options {
            config: self.config.clone(),
            controls: self.controls,
            device: self.sandbox.device,
            require_confinement: self.sandbox.require_confinement,
        }
    }
}

/// How the sandbox is set up: the policy, the audit log, the compile cache,
/// the device.
#[derive(Args)]
pub(crate) struct SandboxArgs {
    /// The sandbox policy (TOML, version 1) [default: the built-in policy,
    /// identical to examples/policies/default.toml].
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Write the audit log here: one JSON line per host call, then a
    /// summary (see docs/POLICY.md). With several runs, one file per run:
    /// `NAME-<run>.jsonl`.
    #[arg(long, value_name = "OUT.jsonl")]
    pub(crate) audit: Option<PathBuf>,
    /// Directory of compiled components, keyed by the wasm's sha256 and the
    /// engine configuration.
    #[arg(long, default_value = ".w2s/cache/compiled")]
    pub(crate) cache_dir: PathBuf,
    /// Where the training primitives run: `cpu`, or `cuda`/`cuda:N` in a
    /// build with the `cuda` feature (scripts/build-cuda.sh). Scoring always
    /// runs on the CPU. See docs/DEVICES.md for what a GPU reproduces.
    #[arg(long, default_value = "cpu", value_parser = w2s_train::device::parse_device)]
    pub(crate) device: w2s_train::device::DeviceSpec,
    /// Fail unless the runner process that runs the guest applied every OS
    /// layer under the wasm sandbox: Landlock (with its TCP rules), seccomp,
    /// `no_new_privs` and rlimits. Without it, a layer this kernel lacks is
    /// only recorded in the report's `confinement`. `w2s serve` and `w2s
    /// worker` always pass it.
    #[arg(long)]
    pub(crate) require_confinement: bool,
}

impl SandboxArgs {
    /// Loads `wasm` under these settings.
    pub(crate) fn load(&self, exe: &Executable, wasm: &Path) -> Result<Submission> {
        let policy = PolicyInfo::effective(self.policy.as_deref())?;
        let sub = Submission::load(exe, wasm, policy, &self.cache_dir)?;
        Ok(sub.with_audit(self.audit.clone()))
    }
}

/// Prints the one error line of a component the sandbox refused.
pub(crate) fn print_refusal(sub: &Submission) {
    if let Some(line) = sub.refusal() {
        eprintln!("error: {}", w2s_host::printable(line));
    }
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// 0 when `ok`, else 2 (some run did not complete or was not scored).
pub(crate) fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
