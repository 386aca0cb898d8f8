//! The audit log: one JSON line per w2s host call (and per call the host
//! makes on a scratch-directory write path), then a summary.
//!
//! Every host function goes through the call gate
//! ([`crate::imports::gate`]), which counts the call, checks the
//! wall-clock deadline, runs the body, and notes here what the call was
//! charged (FLOPs, tensor bytes) and how it ended. Counting always happens
//! (the report carries the [`AuditSummary`]); building and writing records
//! only when a log was asked for. This module is the log alone: it knows
//! nothing of the host state or the contract's types.
//!
//! A record: `{"seq":7,"call":"w2s:strategy/student.train-step",
//! "args":{"indices":[128],"targets":[128,10],"weights":[128]},
//! "flops":123456,"tensor_bytes":0,"result":"ok","t_us":5123}`. `args` holds
//! shapes (a list's length, a matrix's rows and columns) and small scalars
//! (an architecture, a seed), never the values of a list; `tensor_bytes`
//! is signed (a drop releases memory); `result` is `ok`,
//! `error:<wit error-code>` or `trap:<outcome code>`; `t_us` is
//! microseconds since the run started (the only field that varies between
//! identical runs).
//!
//! WASI calls are not logged one by one, except the scratch directory's
//! write paths (write, set-size, open-at, ...), which the host wraps to
//! enforce the quota. The log is bounded by `io.audit_bytes`: records stop
//! when the next one would not fit (leaving room for the last two lines),
//! and a line `{"truncated_after":N,"records_dropped":M}` says where. The
//! last line is always `{"summary":{...}}`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

/// Bytes of the log kept free for the truncation and summary lines.
const TAIL_RESERVE_BYTES: u64 = 16 << 10;

/// Counts of one run's host calls and what they used. The report carries
/// it; it has no times, so identical runs give identical summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// Calls per host function (`interface.function`).
    pub calls: BTreeMap<&'static str, u64>,
    /// All host calls.
    pub host_calls: u64,
    /// Fuel consumed by wasm code.
    pub fuel: u64,
    /// Estimated FLOPs charged.
    pub flops: u64,
    /// Peak host tensor memory, in bytes.
    pub peak_tensor_bytes: u64,
    /// Peak linear memory of all memories together, in bytes.
    pub peak_memory_bytes: u64,
}

/// A call's arguments, as shapes and small scalars.
pub(crate) type Args = Vec<(&'static str, Value)>;

/// One line of the log, fields in this order.
#[derive(Serialize)]
struct Record<'a> {
    seq: u64,
    call: &'a str,
    args: serde_json::Map<String, Value>,
    flops: u64,
    tensor_bytes: i64,
    result: &'a str,
    t_us: u64,
}

/// The log writer of one run.
pub(crate) struct AuditLog {
    out: Box<dyn Write + Send>,
    cap: u64,
    written: u64,
    records_written: u64,
    records_dropped: u64,
    truncated_after: Option<u64>,
    start: Instant,
    error: Option<String>,
}

impl AuditLog {
    pub(crate) fn new(out: Box<dyn Write + Send>, cap: u64, start: Instant) -> Self {
        Self {
            out,
            cap,
            written: 0,
            records_written: 0,
            records_dropped: 0,
            truncated_after: None,
            start,
            error: None,
        }
    }

    fn line(&mut self, value: &Value) {
        self.text(value.to_string());
    }

    fn text(&mut self, mut text: String) {
        if self.error.is_some() {
            return;
        }
        text.push('\n');
        match self.out.write_all(text.as_bytes()) {
            Ok(()) => self.written += text.len() as u64,
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    pub(crate) fn record(
        &mut self,
        seq: u64,
        call: &'static str,
        args: Args,
        cost: (u64, i64),
        result: &str,
    ) {
        if self.truncated_after.is_some() {
            self.records_dropped += 1;
            return;
        }
        let record = Record {
            seq,
            call,
            args: args.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            flops: cost.0,
            tensor_bytes: cost.1,
            result,
            t_us: u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX),
        };
        let text = serde_json::to_string(&record).unwrap_or_default();
        if self.written + text.len() as u64 + 1 + TAIL_RESERVE_BYTES <= self.cap {
            self.text(text);
            self.records_written += 1;
        } else {
            self.truncated_after = Some(seq.saturating_sub(1));
            self.records_dropped += 1;
        }
    }

    /// Writes the last lines and flushes. Returns the first write error.
    pub(crate) fn finish(mut self, summary: &AuditSummary) -> Option<String> {
        if let Some(after) = self.truncated_after {
            let line = serde_json::json!({
                "truncated_after": after,
                "records_dropped": self.records_dropped,
                "limit_bytes": self.cap,
            });
            self.line(&line);
        }
        let mut value = serde_json::to_value(summary).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("records_written".to_owned(), self.records_written.into());
            map.insert("records_dropped".to_owned(), self.records_dropped.into());
        }
        self.line(&serde_json::json!({ "summary": value }));
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e.to_string());
        }
        self.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::SharedBuf;

    fn lines(s: &SharedBuf) -> Vec<Value> {
        let text = String::from_utf8(s.bytes()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn records_then_summary() {
        let out = SharedBuf::default();
        let mut log = AuditLog::new(Box::new(out.clone()), 1 << 20, Instant::now());
        log.record(1, "w2s:strategy/task.seed", vec![], (0, 0), "ok");
        log.record(
            2,
            "w2s:strategy/task.weak-labels",
            vec![("indices", serde_json::json!([3]))],
            (5, 8),
            "error:invalid-argument",
        );
        assert_eq!(log.finish(&AuditSummary::default()), None);
        let l = lines(&out);
        assert_eq!(l.len(), 3);
        assert_eq!(l[1]["args"]["indices"], serde_json::json!([3]));
        assert_eq!(l[1]["result"], "error:invalid-argument");
        assert_eq!(l[2]["summary"]["records_written"], 2);
    }

    #[test]
    fn a_full_log_says_where_it_was_cut_and_stays_under_its_cap() {
        let out = SharedBuf::default();
        let cap = TAIL_RESERVE_BYTES + 1000;
        let mut log = AuditLog::new(Box::new(out.clone()), cap, Instant::now());
        for seq in 1..=100 {
            log.record(seq, "w2s:strategy/task.seed", vec![], (0, 0), "ok");
        }
        log.finish(&AuditSummary::default());
        let l = lines(&out);
        let cut = &l[l.len() - 2];
        let kept = l.len() as u64 - 2;
        assert_eq!(cut["truncated_after"], kept);
        assert_eq!(cut["records_dropped"], 100 - kept);
        assert!(out.bytes().len() as u64 <= cap);
    }
}
