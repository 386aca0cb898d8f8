//! The two parts of a run's report that cannot be read back from JSON as
//! they are: they hold `&'static str` names (a stream, host functions),
//! which serde cannot borrow from the input. They travel as these types,
//! and come back to the host's with the names mapped to static ones: the
//! two streams by value, host-function names through a small interner
//! with a hard cap, so a runner that sends nonsense cannot grow the
//! reading process's memory without bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use w2s_host::{AuditSummary, Note};

use crate::error::RunnerError;

/// Most distinct host-function names interned per process (the WIT has
/// well under a hundred).
const MAX_NAMES: usize = 1024;
/// Longest host-function name accepted.
const MAX_NAME_BYTES: usize = 96;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

fn wire_err(reason: String) -> RunnerError {
    RunnerError::Job { reason }
}

fn intern(name: &str) -> Result<&'static str, RunnerError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(wire_err(format!("{name:?} is not a host-function name")));
    }
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name) {
        return Ok(known);
    }
    if names.len() >= MAX_NAMES {
        return Err(wire_err(format!(
            "more than {MAX_NAMES} distinct host-function names"
        )));
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Ok(leaked)
}

/// A [`Note`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum NoteWire {
    /// [`Note::OutputTruncated`].
    OutputTruncated {
        /// `stdout` or `stderr`.
        stream: String,
        /// Bytes kept.
        kept_bytes: u64,
        /// Bytes dropped.
        dropped_bytes: u64,
    },
}

impl From<&Note> for NoteWire {
    fn from(note: &Note) -> Self {
        match note {
            Note::OutputTruncated {
                stream,
                kept_bytes,
                dropped_bytes,
            } => NoteWire::OutputTruncated {
                stream: (*stream).to_owned(),
                kept_bytes: *kept_bytes,
                dropped_bytes: *dropped_bytes,
            },
        }
    }
}

impl NoteWire {
    /// The host's note; an unknown stream is an error.
    pub fn into_note(self) -> Result<Note, RunnerError> {
        match self {
            NoteWire::OutputTruncated {
                stream,
                kept_bytes,
                dropped_bytes,
            } => {
                let stream = match stream.as_str() {
                    "stdout" => "stdout",
                    "stderr" => "stderr",
                    other => return Err(wire_err(format!("unknown stream {other:?}"))),
                };
                Ok(Note::OutputTruncated {
                    stream,
                    kept_bytes,
                    dropped_bytes,
                })
            }
        }
    }
}

/// An [`AuditSummary`] on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditWire {
    /// Calls per host function.
    pub calls: BTreeMap<String, u64>,
    /// All host calls.
    pub host_calls: u64,
    /// Fuel consumed by wasm code.
    pub fuel: u64,
    /// Estimated FLOPs charged.
    pub flops: u64,
    /// Peak host tensor memory, in bytes.
    pub peak_tensor_bytes: u64,
    /// Peak linear memory, in bytes.
    pub peak_memory_bytes: u64,
}

impl From<&AuditSummary> for AuditWire {
    fn from(a: &AuditSummary) -> Self {
        Self {
            calls: a.calls.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            host_calls: a.host_calls,
            fuel: a.fuel,
            flops: a.flops,
            peak_tensor_bytes: a.peak_tensor_bytes,
            peak_memory_bytes: a.peak_memory_bytes,
        }
    }
}

impl AuditWire {
    /// The host's summary, its names interned.
    pub fn into_summary(self) -> Result<AuditSummary, RunnerError> {
        let calls = self
            .calls
            .into_iter()
            .map(|(k, v)| intern(&k).map(|k| (k, v)))
            .collect::<Result<_, _>>()?;
        Ok(AuditSummary {
            calls,
            host_calls: self.host_calls,
            fuel: self.fuel,
            flops: self.flops,
            peak_tensor_bytes: self.peak_tensor_bytes,
            peak_memory_bytes: self.peak_memory_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_notes_come_back_as_they_were() {
        let mut summary = AuditSummary {
            host_calls: 3,
            fuel: 7,
            ..Default::default()
        };
        summary.calls.insert("w2s:strategy/metrics.log", 3);
        let json = serde_json::to_string(&AuditWire::from(&summary)).unwrap();
        let back: AuditWire = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_summary().unwrap(), summary);
        let note = Note::OutputTruncated {
            stream: "stderr",
            kept_bytes: 1,
            dropped_bytes: 2,
        };
        assert_eq!(NoteWire::from(&note).into_note().unwrap(), note);
    }

    #[test]
    fn unknown_streams_and_odd_names_are_refused() {
        let bad = NoteWire::OutputTruncated {
            stream: "/etc/passwd".into(),
            kept_bytes: 1,
            dropped_bytes: 2,
        };
        assert!(bad.into_note().is_err());
        let mut odd = AuditWire::default();
        odd.calls.insert("a b".into(), 1);
        assert!(odd.into_summary().is_err());
    }
}
