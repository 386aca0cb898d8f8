//! The task an evaluation runs on: the public part of a bundle, opened in
//! this process, and where the bundle lives (for the scorer process, the
//! only one that opens `heldout/`).
//!
//! Generating a task writes its `heldout/` part and holds its ground truth
//! in memory, so the process that runs guest code never generates one
//! itself: [`ensure_task`] runs `w2s task synth` as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use w2s_train::bundle::{MANIFEST, Manifest, PublicTask};
use w2s_train::device::DeviceSpec;
use w2s_train::synth::SynthConfig;

use crate::error::{EvalError, Result};
use crate::executable::Executable;
use crate::progress::ProgressSink;

/// The public view of one task, and where its bundle lives.
#[derive(Clone)]
pub struct Task {
    dir: PathBuf,
    spec: DeviceSpec,
    public: Arc<PublicTask>,
}

impl Task {
    /// Opens the public part of the bundle at `dir` (features, weak labels;
    /// never `heldout/`), on the CPU.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_on(dir, DeviceSpec::Cpu)
    }

    /// Opens the public part of the bundle at `dir` with its features on
    /// `device`: the training primitives of an evaluation on this task run
    /// there (the scorer process stays on the CPU). A CUDA device in a build
    /// without the `cuda` feature is a clear error.
    pub fn open_on(dir: &Path, device: DeviceSpec) -> Result<Self> {
        let spec = device;
        let device = device
            .open()
            .map_err(|source| EvalError::OpenTask { source })?;
        let public =
            PublicTask::open(dir, &device).map_err(|source| EvalError::OpenTask { source })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            spec,
            public: Arc::new(public),
        })
    }

    /// The device it was opened on.
    pub fn spec(&self) -> DeviceSpec {
        self.spec
    }

    /// The bundle's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The task hash (sha256 of its manifest).
    pub fn hash(&self) -> &str {
        &self.public.task_hash
    }

    /// Where the task's features live, hence where its students train:
    /// `cpu` or `cuda:N`.
    pub fn device(&self) -> String {
        w2s_train::device::describe(self.public.features.device())
    }

    /// The GPU's name when the task is on one.
    pub fn gpu(&self) -> Option<String> {
        w2s_train::device::gpu_name(self.public.features.device())
    }

    /// The public part, as the sandbox serves it to a guest.
    pub fn public(&self) -> &Arc<PublicTask> {
        &self.public
    }
}

/// Generates the task `config` into `out` in a child process (`w2s task
/// synth --config-json`), so that this process never holds held-out data.
fn generate_in_child(exe: &Executable, config: &SynthConfig, out: &Path) -> Result<()> {
    let json = serde_json::to_string(config).expect("config serializes");
    let status = exe
        .command()
        .args(["task", "synth", "--config-json", &json, "--out"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|source| EvalError::Spawn {
            what: "the task generator",
            source,
        })?;
    if !status.success() {
        return Err(EvalError::TaskGeneration {
            path: out.to_path_buf(),
            status,
        });
    }
    Ok(())
}

/// Generates `config` into `dir` (through `dir.partial`, moved into place
/// when complete) unless `dir` already holds a manifest.
pub fn ensure_task(
    exe: &Executable,
    dir: &Path,
    config: &SynthConfig,
    progress: &dyn ProgressSink,
) -> Result<()> {
    if dir.join(MANIFEST).exists() {
        return Ok(());
    }
    progress.note(&format!(
        "generating task {} in {} (once)...",
        config.name,
        dir.display()
    ));
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|source| EvalError::Create {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let tmp = dir.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|source| EvalError::Clear {
            path: tmp.clone(),
            source,
        })?;
    }
    generate_in_child(exe, config, &tmp)?;
    std::fs::rename(&tmp, dir).map_err(|source| EvalError::MoveTask {
        path: dir.to_path_buf(),
        source,
    })
}

/// Generates the default task (the latent family, generator seed 0) into
/// `dir` if it has no manifest yet.
pub fn ensure_default_task(
    exe: &Executable,
    dir: &Path,
    progress: &dyn ProgressSink,
) -> Result<()> {
    ensure_task(exe, dir, &SynthConfig::default_task(0), progress)
}

/// The ranking default task: the default task's story and sizes under a
/// generator seed derived from the evaluator's secret
/// ([`crate::seeds::Secret::task_seed`] of `default`), so that nobody
/// without the secret can regenerate its held-out split. The public default
/// task (generator seed 0, [`ensure_default_task`]) stays for development.
pub fn ranking_default_config(secret: &crate::seeds::Secret) -> SynthConfig {
    SynthConfig::default_task(secret.task_seed("default"))
}

/// Generates the ranking default task ([`ranking_default_config`]) into
/// `dir` if it has no manifest yet; a task there made from another config
/// (the public default task, another secret) is an error.
pub fn ensure_ranking_default_task(
    exe: &Executable,
    dir: &Path,
    secret: &crate::seeds::Secret,
    progress: &dyn ProgressSink,
) -> Result<()> {
    let config = ranking_default_config(secret);
    if holds_task_of(
        dir,
        &config,
        "the ranking default task's (from the evaluator's secret)",
    )? {
        return Ok(());
    }
    ensure_task(exe, dir, &config, progress)
}

/// Whether `dir` holds a task already. A task there that was generated
/// from another config than `config` is an error; `whose` names the
/// expected config in it (`the suite's`).
pub fn holds_task_of(dir: &Path, config: &SynthConfig, whose: &str) -> Result<bool> {
    if !dir.join(MANIFEST).exists() {
        return Ok(false);
    }
    let (manifest, _) = Manifest::read(dir)?;
    let expected = serde_json::to_string(config).expect("config serializes");
    if manifest.provenance.get("config") != Some(&expected) {
        return Err(EvalError::StaleTask {
            path: dir.to_path_buf(),
            expected: whose.to_owned(),
        });
    }
    Ok(true)
}
