//! [`Options`]: what shapes an evaluation besides the submission, the task
//! and the seeds.

use w2s_train::device::DeviceSpec;

/// What shapes an evaluation besides the submission, the task and the
/// seeds. Every field is recorded in the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The config string passed to the strategy's `run` [default: empty].
    pub config: String,
    /// Whether to also run the teacher-ablation controls (permuted labels,
    /// class prior) under the same seeds [default: no].
    pub controls: bool,
    /// Where the training primitives run, for tasks this library opens
    /// itself (a suite's; a replay's comes from its report) [default: the
    /// CPU]. A [`crate::Task`] opened by the caller keeps its own device.
    pub device: DeviceSpec,
    /// Fail unless the runner applied every layer of confinement
    /// (Landlock with TCP rules, seccomp, `no_new_privs`, rlimits) [default:
    /// no: a missing layer is only recorded in the report].
    pub require_confinement: bool,
}
