//! Local mode: evaluations in this process's evaluator, as `w2s eval
//! --feedback-only` runs them (the sandbox here, the scorer in a `w2s
//! score` child), and the answer is the report's `feedback` section only.
//!
//! The agent names a task and a config; everything else is the operator's:
//! the seeds (host-chosen from the evaluator's secret, the count set by
//! `w2s mcp --seeds`), the policy, the task directory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedSender;
use w2s_eval::{
    Evaluation, Executable, Options, PolicyInfo, ProgressSink, SeedRequest, Submission, Task,
};

use crate::error::{Error, Result};
use crate::outcome::Evaluated;

/// How local evaluations run (set by the operator, never by the agent).
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The task bundles: `DIR/NAME` is task NAME; `default` is generated
    /// when missing.
    pub tasks_dir: PathBuf,
    /// Host-chosen seeds per evaluation.
    pub seeds: u32,
    /// The sandbox policy file (`None`: the built-in default policy).
    pub policy: Option<PathBuf>,
    /// The compiled-component cache.
    pub cache_dir: PathBuf,
    /// The evaluator's secret.
    pub secret_file: PathBuf,
}

impl Default for LocalConfig {
    fn default() -> Self {
        let seeds = SeedRequest::default();
        Self {
            tasks_dir: PathBuf::from(".w2s/tasks"),
            seeds: seeds.count,
            policy: None,
            cache_dir: PathBuf::from(".w2s/cache/compiled"),
            secret_file: seeds.secret_file,
        }
    }
}

/// A step of a running evaluation: (runs finished, runs in all, what).
pub type Step = (u32, u32, String);

/// Forwards the finished runs to a channel (the server turns them into
/// progress notifications).
struct ChannelSink {
    total: u32,
    done: Mutex<u32>,
    tx: UnboundedSender<Step>,
}

impl ProgressSink for ChannelSink {
    fn run_finished(&self, label: &str) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        *done += 1;
        // A closed channel (the client went away) changes nothing here.
        let _ = self
            .tx
            .send((*done, self.total, format!("{label} finished")));
    }

    fn note(&self, text: &str) {
        let done = *self.done.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.tx.send((done, self.total, text.to_owned()));
    }
}

impl LocalConfig {
    /// The bundle directory of task `name`, checked to hold a manifest
    /// (`default` is generated first when missing).
    pub fn task_dir(&self, name: &str, exe: &Executable) -> Result<PathBuf> {
        if !valid_task_name(name) {
            return Err(Error::UnknownTask(name.to_owned()));
        }
        let dir = self.tasks_dir.join(name);
        if name == "default" {
            w2s_eval::task::ensure_default_task(exe, &dir, &w2s_eval::Quiet)?;
        }
        if !dir.join("task.toml").is_file() {
            return Err(Error::UnknownTask(name.to_owned()));
        }
        Ok(dir)
    }

    /// Evaluates `wasm` on task `task` with `config`, sending each finished
    /// run to `tx`. Blocking: call it off the async runtime.
    pub fn evaluate(
        &self,
        wasm: &Path,
        task: &str,
        config: &str,
        tx: UnboundedSender<Step>,
    ) -> Result<Evaluated> {
        let exe = Executable::current()?;
        let dir = self.task_dir(task, &exe)?;
        if !wasm.is_file() {
            return Err(Error::InvalidArguments(format!(
                "wasm: no file at {}",
                wasm.display()
            )));
        }
        let policy = PolicyInfo::effective(self.policy.as_deref())?;
        let sub = Submission::load(&exe, wasm, policy, &self.cache_dir)?;
        let task = Task::open(&dir)?;
        let request = SeedRequest {
            given: Vec::new(),
            count: self.seeds,
            secret_file: self.secret_file.clone(),
        };
        let seeds = request.plan(sub.wasm_sha256(), task.hash())?;
        let sink = ChannelSink {
            total: self.seeds,
            done: Mutex::new(0),
            tx,
        };
        let options = Options {
            config: config.to_owned(),
            ..Options::default()
        };
        let report = Evaluation::new(&task, &sub, seeds)
            .options(options)
            .run(&sink)?;
        Ok(Evaluated {
            feedback: serde_json::to_value(&report.feedback).expect("feedback serializes"),
            refusal: sub.refusal().map(w2s_host::printable),
            wasm_sha256: sub.wasm_sha256().to_owned(),
            task: task.hash().to_owned(),
            submission_id: None,
        })
    }
}

/// Whether `name` may name a task directory: 1 to 64 bytes of
/// `[A-Za-z0-9._-]`, not starting with a dot (as the service's rule).
pub(crate) fn valid_task_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
