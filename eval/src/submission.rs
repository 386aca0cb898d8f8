//! The first stage: the submission, a wasm component compiled for the
//! sandbox of a policy.
//!
//! A component the sandbox refuses (an import the policy denies, a module
//! that does not compile or is too large) is the strategy's outcome, not
//! bad input: the submission carries the refusal, every run of it reports
//! that outcome (`import-denied`, `invalid-module`, ...), and
//! [`Submission::refusal`] is the one error line to show.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use w2s_host::{Outcome, Sandbox};

use crate::compile::{self, Loaded};
use crate::error::{EvalError, Result};
use crate::executable::Executable;
use crate::policy::PolicyInfo;

/// A loaded submission: the compiled strategy (or the sandbox's refusal
/// of it: this process compiles and checks the component against the
/// policy, the confined runner runs it), and the policy it runs under.
pub struct Submission {
    wasm_file: String,
    wasm_bytes: u64,
    wasm_sha256: String,
    /// The compiled strategy, or the outcome and error line of a refused
    /// component.
    pub(crate) loaded: Result<Loaded, (Outcome, String)>,
    policy: PolicyInfo,
    audit: Option<PathBuf>,
    exe: Executable,
}

impl Submission {
    /// Reads the component at `wasm` and compiles it (in a `w2s compile`
    /// child of `exe`, cached in `cache_dir`) under `policy`. A component
    /// the sandbox refuses is not an error: see the module docs. The same
    /// `exe` later runs the scorer for every evaluation of the submission.
    pub fn load(
        exe: &Executable,
        wasm: &Path,
        policy: PolicyInfo,
        cache_dir: &Path,
    ) -> Result<Self> {
        let sandbox = Sandbox::new(policy.effective.clone())
            .map_err(|source| EvalError::Sandbox { source })?;
        let bytes = std::fs::read(wasm).map_err(|source| EvalError::Read {
            path: wasm.to_path_buf(),
            source,
        })?;
        let loaded = match compile::load(exe, &sandbox, &bytes, cache_dir) {
            Ok(l) => Ok(l),
            Err(e) => match e.outcome() {
                Some(outcome) => Err((outcome, format!("{}: {e}", wasm.display()))),
                None => {
                    return Err(EvalError::Component {
                        path: wasm.to_path_buf(),
                        source: e,
                    });
                }
            },
        };
        Ok(Self {
            wasm_file: wasm
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            wasm_bytes: bytes.len() as u64,
            wasm_sha256: hex::encode(Sha256::digest(&bytes)),
            loaded,
            policy,
            audit: None,
            exe: exe.clone(),
        })
    }

    /// Writes an audit log of every run (one JSON line per host call, then
    /// a summary): at `path` for an evaluation of one run, else at
    /// `STEM-<run>.EXT` beside it [default: no audit log].
    pub fn with_audit(mut self, path: Option<PathBuf>) -> Self {
        self.audit = path;
        self
    }

    /// The component's file name, as reports record it.
    pub fn wasm_file(&self) -> &str {
        &self.wasm_file
    }

    /// Its size in bytes.
    pub fn wasm_bytes(&self) -> u64 {
        self.wasm_bytes
    }

    /// sha256 of its bytes, lowercase hex.
    pub fn wasm_sha256(&self) -> &str {
        &self.wasm_sha256
    }

    /// The policy its sandbox enforces.
    pub fn policy(&self) -> &PolicyInfo {
        &self.policy
    }

    /// Where audit logs go, if anywhere.
    pub(crate) fn audit(&self) -> Option<&Path> {
        self.audit.as_deref()
    }

    /// The executable its child processes start from.
    pub fn executable(&self) -> &Executable {
        &self.exe
    }

    /// The one error line of a component the sandbox refused; `None` when
    /// it loaded.
    pub fn refusal(&self) -> Option<&str> {
        self.loaded.as_ref().err().map(|(_, line)| line.as_str())
    }

    /// Takes `file` as the component's name (a replay: same bytes, same
    /// submission, whatever the copy is called).
    pub(crate) fn rename(&mut self, file: String) {
        self.wasm_file = file;
    }
}
