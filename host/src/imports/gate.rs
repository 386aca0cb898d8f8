//! The call gate: every w2s host function (and every scratch-directory
//! write path the host shadows) runs through [`HostState::audited`], which
//! counts the call, checks the wall-clock deadline, runs the body, and
//! hands what the call was charged and how it ended to the audit log
//! ([`crate::audit`]).
//!
//! It lives with the imports, not with the log, so that the log, the host
//! state and the scratch quota never depend on the contract's types: the
//! imports build on them, never the other way round.

use serde_json::Value;

use crate::audit::Args;
use crate::imports::wit;
use crate::outcome::classify_call;
use crate::state::HostState;

/// How a host function's value says it ended.
pub(crate) trait CallResult {
    /// `ok` or `error:<code>`.
    fn status(&self) -> String;
}

impl<T> CallResult for Result<T, wit::Error> {
    fn status(&self) -> String {
        match self {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error:{}", error_code(e.code)),
        }
    }
}

macro_rules! always_ok {
    ($($t:ty),*) => {$(
        impl CallResult for $t {
            fn status(&self) -> String {
                "ok".to_owned()
            }
        }
    )*};
}

always_ok!(
    (),
    u32,
    u64,
    String,
    wit::Arch,
    Vec<wit::ArchLimit>,
    Vec<u32>
);

/// `lm.model`, `lm.allowed-lora`, `lm.lora-config-of`: `none` is an answer,
/// not a failure.
impl<T> CallResult for Option<T> {
    fn status(&self) -> String {
        "ok".to_owned()
    }
}

impl<T: 'static> CallResult for wasmtime::component::Resource<T> {
    fn status(&self) -> String {
        "ok".to_owned()
    }
}

fn error_code(code: wit::ErrorCode) -> &'static str {
    match code {
        wit::ErrorCode::InvalidArgument => "invalid-argument",
        wit::ErrorCode::NotAllowed => "not-allowed",
        wit::ErrorCode::WrongHandle => "wrong-handle",
    }
}

/// Whether a call first checks the wall-clock deadline. Drops do not: a
/// guest must always be able to release memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    Check,
    Skip,
}

impl HostState {
    /// Runs one host call: counts it, checks the deadline, runs `body`, and
    /// logs what it was charged and how it ended.
    pub(crate) fn audited<T: CallResult>(
        &mut self,
        call: &'static str,
        deadline: Deadline,
        args: impl FnOnce() -> Args,
        body: impl FnOnce(&mut Self) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<T> {
        self.meters.host_calls += 1;
        *self.calls.entry(call).or_insert(0) += 1;
        let seq = self.meters.host_calls;
        let before = (self.meters.flops, self.meters.tensor_bytes());
        let args = self.audit.as_ref().map(|_| args());
        let result = match deadline {
            Deadline::Check => self.meters.check_deadline().map_err(wasmtime::Error::new),
            Deadline::Skip => Ok(()),
        }
        .and_then(|()| body(self));
        if let (Some(log), Some(args)) = (self.audit.as_mut(), args) {
            let flops = self.meters.flops - before.0;
            let bytes = self.meters.tensor_bytes() as i64 - before.1 as i64;
            let status = match &result {
                Ok(v) => v.status(),
                Err(e) => format!("trap:{}", classify_call(e).code()),
            };
            log.record(seq, call, args, (flops, bytes), &status);
        }
        result
    }
}

/// `[n]`: the shape of a list of `n` values.
pub(crate) fn list(n: usize) -> Value {
    serde_json::json!([n])
}

/// `[rows, cols]`: the shape of a row-major matrix.
pub(crate) fn matrix(rows: usize, cols: usize) -> Value {
    serde_json::json!([rows, cols])
}
