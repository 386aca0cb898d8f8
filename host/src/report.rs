//! What a run hands back: the report, its usage figures, metrics and
//! progress events.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use w2s_train::Head;
use w2s_train::lora::LoraStudent;

use crate::audit::AuditSummary;
use crate::outcome::{Note, Outcome};
use crate::output::CapturedOutput;

/// A progress event, sent after every train step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Train steps so far.
    pub steps: u64,
    /// Estimated FLOPs used so far.
    pub flops: u64,
    /// The compute budget in FLOPs.
    pub flops_budget: u64,
}

/// One metric point the guest logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The guest's step number.
    pub step: u32,
    /// The metric's name (at most 64 bytes).
    pub name: String,
    /// The value (may be NaN or infinite; JSON writes those as `null`).
    pub value: f64,
}

/// What a run used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Fuel consumed by wasm code (instantiation included).
    pub fuel_consumed: u64,
    /// Estimated FLOPs charged by the training primitives.
    pub flops: u64,
    /// Peak host tensor memory in bytes (student parameters and optimizer
    /// state).
    pub peak_tensor_bytes: u64,
    /// Peak number of live students and optimizers.
    pub peak_handles: u64,
    /// Students and optimizers the guest had not dropped when the run
    /// ended (the returned student excluded). They are freed with the
    /// run's store; [`crate::Sandbox::live_handles`] shows none survive.
    pub live_handles_at_end: u64,
    /// Peak linear memory, all memories together, in bytes.
    pub peak_memory_bytes: u64,
    /// Bytes charged to the scratch directory's quota (0 without one).
    pub scratch_bytes: u64,
    /// Train steps taken.
    pub train_steps: u64,
    /// Calls into w2s host functions (and scratch-directory write calls;
    /// other WASI calls are not counted).
    pub host_calls: u64,
    /// Wall time of the run. Not serialized: everything else in a report is
    /// identical, bit for bit, across repeated runs, and this is not.
    #[serde(skip)]
    pub wall_time: Duration,
}

/// Everything one run produced.
#[derive(Debug)]
pub struct RunReport {
    /// How the run ended.
    pub outcome: Outcome,
    /// The student `run` returned, when it is a head; this or
    /// [`RunReport::lora_student`] is `Some` exactly when the outcome is
    /// [`Outcome::Completed`].
    pub student: Option<Head>,
    /// The student `run` returned, when it is an `lm-lora` student.
    pub lora_student: Option<LoraStudent>,
    /// Metric points, in the order logged.
    pub metrics: Vec<MetricPoint>,
    /// Metric points not kept: over `max_metric_points`, or with a name
    /// longer than 64 bytes.
    pub metrics_dropped: u64,
    /// The guest's stdout.
    pub stdout: CapturedOutput,
    /// The guest's stderr.
    pub stderr: CapturedOutput,
    /// What the run used.
    pub usage: Usage,
    /// Things worth knowing that are not failures (output cut).
    pub notes: Vec<Note>,
    /// Calls per host function and peaks: the audit log's summary, which
    /// the report carries whether or not a log was written.
    pub audit: AuditSummary,
    /// The first error writing the audit log, if one was asked for and
    /// writing failed.
    pub audit_error: Option<String>,
    /// sha256 of the component's bytes, lowercase hex.
    pub wasm_sha256: String,
    /// The run seed.
    pub seed: u64,
}
