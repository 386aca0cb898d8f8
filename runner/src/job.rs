//! What the evaluation asks of the runner, and what the runner answers:
//! plain serde types, written as JSON into the runner's output directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use w2s_confine::Applied;
use w2s_host::{CapturedOutput, MetricPoint, Outcome, Usage};
use w2s_policy::file::{ArchRule, FilesystemFile, ImportsFile, StudentsFile};
use w2s_policy::{ArchFamily, Policy, PolicyFile};
use w2s_train::device::DeviceSpec;

use crate::error::RunnerError;
use crate::wire::{AuditWire, NoteWire};

/// The job file's name inside the output directory.
pub const JOB_FILE: &str = "job.json";
/// The result file's name inside the output directory.
pub const RESULT_FILE: &str = "result.json";

/// One runner process's work: every run of one submission on one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The task bundle (only `task.toml` and `public/` are read).
    pub task_dir: PathBuf,
    /// Where the training primitives run (`cpu`, `cuda:N`).
    pub device: DeviceSpec,
    /// The compiled-component cache.
    pub cache_dir: PathBuf,
    /// The component's key in that cache.
    pub cache_key: String,
    /// sha256 of the component's wasm.
    pub wasm_sha256: String,
    /// The effective policy, as a policy file.
    pub policy: PolicyFile,
    /// sha256 of the effective policy: the runner checks that `policy`
    /// gives it back.
    pub policy_sha256: String,
    /// The config string passed to `run`.
    pub config: String,
    /// The runner's own directory: the only one it may write.
    pub out_dir: PathBuf,
    /// The runs, in order.
    pub runs: Vec<RunSpec>,
    /// Fail unless every confinement layer applied.
    pub require_confinement: bool,
}

/// One run of the strategy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// A label for progress (`student 1/2`).
    pub label: String,
    /// The run seed.
    pub seed: u64,
    /// A file of the weak teacher's probabilities to use instead of the
    /// task's (little-endian `f32`, row-major), for a control run.
    pub weak_probs: Option<PathBuf>,
    /// Where to write the student, if the run returns one.
    pub checkpoint: PathBuf,
    /// Where to write the audit log, if one is wanted.
    pub audit: Option<PathBuf>,
}

/// What one run produced, but its student (written as a checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// How the run ended.
    pub outcome: Outcome,
    /// Metric points, in the order logged.
    pub metrics: Vec<MetricPoint>,
    /// Metric points dropped.
    pub metrics_dropped: u64,
    /// The guest's stdout.
    pub stdout: CapturedOutput,
    /// The guest's stderr.
    pub stderr: CapturedOutput,
    /// What the run used.
    pub usage: Usage,
    /// Wall time of the run in microseconds (`usage` leaves it out).
    pub wall_time_us: u64,
    /// Notes that are not failures.
    pub notes: Vec<NoteWire>,
    /// The audit log's summary.
    pub audit: AuditWire,
    /// The first error writing the audit log.
    pub audit_error: Option<String>,
    /// The checkpoint written, when the run returned a student.
    pub checkpoint: Option<PathBuf>,
}

/// The runner's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResult {
    /// The layers of confinement that took effect.
    pub confinement: Applied,
    /// One result per [`RunSpec`], in order.
    pub runs: Vec<RunResult>,
}

/// A progress line on the runner's stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Run `index` started.
    Started {
        /// Its position in [`Job::runs`].
        index: usize,
    },
    /// A train step of run `index`.
    Progress {
        /// Its position in [`Job::runs`].
        index: usize,
        /// Train steps so far.
        steps: u64,
        /// FLOPs so far.
        flops: u64,
        /// The compute budget.
        flops_budget: u64,
    },
    /// Run `index` finished.
    Finished {
        /// Its position in [`Job::runs`].
        index: usize,
    },
}

/// The policy file that gives back `policy` (its effective form has every
/// default filled in; a file is what [`Policy`] is built from).
pub fn policy_file(policy: &Policy) -> PolicyFile {
    let students = policy.students();
    let mut allow: Vec<ArchRule> = students
        .allow
        .iter()
        .map(|a| ArchRule {
            family: a.family,
            max_hidden: (a.family == ArchFamily::Mlp).then_some(a.max_hidden),
            max_rank: None,
            layers: None,
            targets: None,
        })
        .collect();
    if let Some(lora) = &students.lora {
        allow.push(ArchRule {
            family: ArchFamily::LmLora,
            max_hidden: None,
            max_rank: Some(lora.max_rank),
            layers: lora.layers.clone(),
            targets: Some(lora.targets.clone()),
        });
    }
    let scratch = policy.filesystem().scratch.as_ref();
    PolicyFile {
        version: Default::default(),
        guest: policy.guest().clone(),
        host: policy.host().clone(),
        io: policy.io().clone(),
        compile: policy.compile().clone(),
        students: StudentsFile {
            allow,
            read_hidden: students.read_hidden,
        },
        filesystem: FilesystemFile {
            scratch: scratch.is_some(),
            scratch_quota_bytes: scratch.map(|s| s.quota_bytes),
        },
        imports: ImportsFile {
            allow: policy.imports().allow.iter().cloned().collect(),
        },
    }
}

impl Job {
    /// Reads the job at `path`.
    pub fn read(path: &Path) -> Result<Self, RunnerError> {
        let bytes = std::fs::read(path).map_err(|source| RunnerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RunnerError::Job {
            reason: e.to_string(),
        })
    }

    /// The policy, checked against its recorded sha256.
    pub fn policy(&self) -> Result<Policy, RunnerError> {
        let policy = Policy::try_from(self.policy.clone()).map_err(|e| RunnerError::Job {
            reason: format!("policy: {e}"),
        })?;
        if policy.sha256() != self.policy_sha256 {
            return Err(RunnerError::Job {
                reason: format!(
                    "the policy file gives sha256 {}, the job says {}",
                    policy.sha256(),
                    self.policy_sha256
                ),
            });
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_policy_survives_the_trip_through_a_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let policy = Policy::from_toml_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let back = Policy::try_from(policy_file(&policy)).unwrap();
            assert_eq!(back.sha256(), policy.sha256(), "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 3, "only {seen} example policies");
    }
}
