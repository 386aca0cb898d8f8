//! [`EvalError`]: everything that stops an evaluation.
//!
//! A strategy that misbehaves does not stop an evaluation: its outcome is
//! in the report. These are the evaluator's own failures and bad input (a
//! missing file, a bundle that does not verify, a scorer process that
//! failed, a report that does not replay). Each message names the problem
//! and, through [`std::error::Error::source`], what caused it; `w2s` prints
//! the chain on one line.

use std::path::PathBuf;
use std::process::ExitStatus;

use w2s_host::{HostError, PolicyError};
use w2s_train::TrainError;

/// Everything that can stop an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// `w2s guest build` could not compose or check a Python component.
    #[error("{step}: {detail}")]
    PythonComposition {
        /// The step that failed.
        step: &'static str,
        /// What wac or the policy check said.
        detail: String,
    },
    /// The path of the running executable is unknown.
    #[error("cannot locate the w2s executable")]
    Executable {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A child process did not start.
    #[error("cannot start {what}")]
    Spawn {
        /// Which process (`the scorer process`, ...).
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be created.
    #[error("cannot create {}", path.display())]
    Create {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A directory could not be removed.
    #[error("cannot clear {}", path.display())]
    Clear {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No temporary directory for the checkpoints.
    #[error("cannot create a temporary directory")]
    TempDir {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A policy file does not validate.
    #[error("{}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: PolicyError,
    },
    /// The sandbox could not be built for the policy.
    #[error("cannot set up the sandbox")]
    Sandbox {
        /// Why.
        #[source]
        source: HostError,
    },
    /// Loading a component failed for a reason that is not the
    /// component's outcome (a broken cache, a compiling process that
    /// crashed).
    #[error("{}", path.display())]
    Component {
        /// The component.
        path: PathBuf,
        /// Why.
        #[source]
        source: HostError,
    },
    /// The `w2s compile` child could not limit its address space.
    #[error("cannot limit the address space")]
    AddressSpace {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `w2s compile` child could not start its threads.
    #[error("cannot start the compiling threads")]
    CompileThreads {
        /// Why.
        reason: String,
    },
    /// The public part of a task bundle does not open.
    #[error("cannot open the task")]
    OpenTask {
        /// Why.
        #[source]
        source: TrainError,
    },
    /// A training primitive or a bundle failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The child generating a task failed.
    #[error("generating {} failed ({status})", path.display())]
    TaskGeneration {
        /// Where the task was to be written.
        path: PathBuf,
        /// How the child ended.
        status: ExitStatus,
    },
    /// A generated task could not be moved into place.
    #[error("cannot move the task into {}", path.display())]
    MoveTask {
        /// The task's directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A directory holds a task generated from another config than the one
    /// asked for.
    #[error("{} holds a task generated from another config than {expected}; delete it to regenerate", path.display())]
    StaleTask {
        /// The task's directory.
        path: PathBuf,
        /// Whose config was expected (`the suite's`, `family latent's`).
        expected: String,
    },
    /// A suite task could not be generated.
    #[error("cannot generate suite task {name}")]
    SuiteTask {
        /// The task's name.
        name: String,
        /// Why.
        #[source]
        source: Box<EvalError>,
    },
    /// The evaluator's secret could not be created.
    #[error("cannot create the secret {}", path.display())]
    CreateSecret {
        /// The secret's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<EvalError>,
    },
    /// Others may read the evaluator's secret.
    #[error("the secret {} is readable by others (mode {mode:o}); chmod 600 it", path.display())]
    SecretReadable {
        /// The secret's path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The evaluator's secret is longer than it may be.
    #[error("the secret {} is over {max} bytes", path.display())]
    SecretTooLong {
        /// The secret's path.
        path: PathBuf,
        /// The most bytes accepted.
        max: u64,
    },
    /// The evaluator's secret is too short to be unguessable.
    #[error("the secret {} has {len} bytes; at least {min} are needed", path.display())]
    SecretTooShort {
        /// The secret's path.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// The fewest bytes accepted.
        min: usize,
    },
    /// The OS gave no random bytes for a new secret.
    #[error("no OS randomness: {reason}")]
    Randomness {
        /// Why.
        reason: String,
    },
    /// More seeds were given than one evaluation may run.
    #[error("at most {max} --seed values")]
    TooManySeeds {
        /// The most seeds accepted.
        max: u32,
    },
    /// An audit log could not be written.
    #[error("cannot write the audit log {}: {reason}", path.display())]
    AuditLog {
        /// The log's path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A student could not be serialized as a checkpoint.
    #[error("cannot serialize the student")]
    Checkpoint {
        /// Why.
        #[source]
        source: TrainError,
    },
    /// A control task could not be built.
    #[error("cannot build the {control} control")]
    Control {
        /// The control's name.
        control: &'static str,
        /// Why.
        #[source]
        source: TrainError,
    },
    /// The scorer process exited with a failure.
    #[error("the scorer process failed ({status})")]
    ScorerFailed {
        /// How it ended.
        status: ExitStatus,
    },
    /// The scorer process printed something that is not a verdict.
    #[error("the scorer process printed an unreadable report")]
    ScorerOutput {
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The scorer returned another number of verdicts than students.
    #[error("the scorer returned {got} verdicts for {expected} students")]
    ScorerVerdicts {
        /// Verdicts returned.
        got: usize,
        /// Students given.
        expected: usize,
    },
    /// The scorer read another task than the runs.
    #[error("the scorer read another task ({scored}) than the run ({ran})")]
    ScorerTask {
        /// The hash of the task the scorer read.
        scored: String,
        /// The hash of the task the runs used.
        ran: String,
    },
    /// A suite definition is not valid TOML of the suite format.
    #[error("{message}")]
    SuiteSyntax {
        /// The parser's message.
        message: String,
    },
    /// A suite's or a suite task's name is not a safe directory name.
    #[error("{what} {name:?} must be 1 to 64 ASCII letters, digits, - or _")]
    UnsafeName {
        /// `suite name` or `task name`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A suite has no tasks or too many.
    #[error("a suite has 1 to {max} tasks, this one {count}")]
    SuiteSize {
        /// The most tasks accepted.
        max: usize,
        /// Its tasks.
        count: usize,
    },
    /// Two suite tasks have the same name.
    #[error("task name {name:?} appears twice")]
    SuiteDuplicateTask {
        /// The name.
        name: String,
    },
    /// A suite task's generator config does not validate.
    #[error("task {name}")]
    SuiteTaskConfig {
        /// The task's name.
        name: String,
        /// What is wrong.
        #[source]
        source: TrainError,
    },
    /// A suite file (or the built-in suite) is not valid.
    #[error("{file}")]
    SuiteFile {
        /// The file's path, or `the built-in suite`.
        file: String,
        /// What is wrong.
        #[source]
        source: Box<EvalError>,
    },
    /// A report file is not JSON.
    #[error("{} is not JSON", path.display())]
    NotJson {
        /// The report.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A report is JSON but not a w2s report.
    #[error("{} is not a w2s {kind}", path.display())]
    NotAReport {
        /// The report.
        path: PathBuf,
        /// `report` or `suite report`.
        kind: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A report's policy section does not parse.
    #[error("{} has no readable policy", path.display())]
    NoReadablePolicy {
        /// The report.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A report has another layout version than this build writes.
    #[error("the report has format {found}; this build replays format {expected}")]
    ReportFormat {
        /// The report's format.
        found: u32,
        /// This build's.
        expected: u32,
    },
    /// The wasm given to a replay is not the report's.
    #[error("wasm sha256 differs: the report is about {recorded}, {} is {actual}", path.display())]
    WasmDiffers {
        /// The report's wasm sha256.
        recorded: String,
        /// The wasm given.
        path: PathBuf,
        /// Its sha256.
        actual: String,
    },
    /// The policy of a replay is not the report's.
    #[error(
        "policy hash differs: the report ran under policy {recorded}, the replay's ({policy_source}) is {actual}; pass the same file with --policy"
    )]
    PolicyDiffers {
        /// The report's policy sha256.
        recorded: String,
        /// Where the replay's policy came from.
        policy_source: String,
        /// Its sha256.
        actual: String,
    },
    /// The task given to a replay is not the report's.
    #[error("task hash differs: the report is about task {recorded}, {} is {actual}", path.display())]
    TaskDiffers {
        /// The report's task hash.
        recorded: String,
        /// The task given.
        path: PathBuf,
        /// Its hash.
        actual: String,
    },
    /// A report records more seeds than a seed index can count.
    #[error("too many seeds")]
    RecordedSeeds,
    /// A report's seeds are not those its secret derives.
    #[error(
        "the report's seeds are not those its secret derives for this wasm and task: the report was edited"
    )]
    SeedsEdited,
    /// A suite report's task reports do not match its suite.
    #[error("the suite has {tasks} tasks but the report {reports} task reports")]
    SuiteReportSize {
        /// Tasks in the suite.
        tasks: usize,
        /// Task reports in the report.
        reports: usize,
    },
    /// A suite's tasks are generated under seeds derived from the
    /// evaluator's secret, and none was given.
    #[error(
        "suite {suite}: its tasks' generator seeds derive from the evaluator's secret, and none was given"
    )]
    SuiteNeedsSecret {
        /// The suite's name.
        suite: String,
    },
    /// A suite report's tasks were generated under seeds derived from the
    /// evaluator's secret, and there is no secret to regenerate them.
    #[error("the suite report's tasks were generated under seeds derived from the evaluator's secret; no secret at {} (--secret-file)", path.display())]
    SuiteSecretMissing {
        /// Where the secret was looked for.
        path: PathBuf,
    },
    /// A suite report's tasks were generated under seeds derived from
    /// another secret than the one at hand.
    #[error("the suite report's tasks were generated under seeds derived from the evaluator's secret; the secret at {} is not the one the report commits to", path.display())]
    SuiteSecretDiffers {
        /// The secret at hand.
        path: PathBuf,
    },
    /// The confined runner (`w2s-runner`) could not start, failed, or
    /// answered something that does not fit its job.
    #[error("the runner {}: {reason}", path.display())]
    Runner {
        /// The runner executable.
        path: PathBuf,
        /// What went wrong (its own error line when it said one).
        reason: String,
    },
    /// A report could not be turned into JSON.
    #[error("cannot serialize the report")]
    Serialize {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The result of everything in this crate.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// `err` and its sources, joined by `: ` (the line `w2s` prints).
#[cfg(test)]
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
