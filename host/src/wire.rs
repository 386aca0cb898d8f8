//! Reading a run's report back from JSON: the confined runner process
//! (`w2s-runner`) sends its runs' reports to the evaluation as JSON, and a
//! few of their fields are `&'static str` (stream and host-function
//! names), which serde cannot borrow from the input. These helpers map
//! them back to static names: the two streams by value, host-function
//! names through a small interner with a hard cap, so a runner that sends
//! nonsense cannot grow this process's memory without bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// Most distinct host-function names interned per process (the WIT has
/// well under a hundred).
const MAX_NAMES: usize = 1024;
/// Longest host-function name accepted.
const MAX_NAME_BYTES: usize = 96;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// `stdout` or `stderr`, as the static name a [`crate::Note`] holds.
pub(crate) fn stream_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    match String::deserialize(d)?.as_str() {
        "stdout" => Ok("stdout"),
        "stderr" => Ok("stderr"),
        other => Err(D::Error::custom(format!("unknown stream {other:?}"))),
    }
}

fn intern(name: String) -> Result<&'static str, String> {
    if name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || !name.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!("{name:?} is not a host-function name"));
    }
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name.as_str()) {
        return Ok(known);
    }
    if names.len() >= MAX_NAMES {
        return Err(format!("more than {MAX_NAMES} distinct host-function names"));
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    Ok(leaked)
}

/// The calls-per-function map of a [`crate::AuditSummary`].
pub(crate) fn call_counts<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<&'static str, u64>, D::Error> {
    BTreeMap::<String, u64>::deserialize(d)?
        .into_iter()
        .map(|(name, n)| intern(name).map(|k| (k, n)).map_err(D::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::{AuditSummary, Note};

    #[test]
    fn summaries_and_notes_read_back_as_they_were_written() {
        let mut summary = AuditSummary {
            host_calls: 3,
            fuel: 7,
            ..Default::default()
        };
        summary.calls.insert("w2s:strategy/metrics.log", 3);
        let json = serde_json::to_string(&summary).unwrap();
        let back: AuditSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary);
        let note = Note::OutputTruncated {
            stream: "stderr",
            kept_bytes: 1,
            dropped_bytes: 2,
        };
        let back: Note = serde_json::from_str(&serde_json::to_string(&note).unwrap()).unwrap();
        assert_eq!(back, note);
    }

    #[test]
    fn unknown_streams_and_odd_names_are_refused() {
        let bad = r#"{"code":"output-truncated","stream":"/etc/passwd","kept_bytes":1,"dropped_bytes":2}"#;
        assert!(serde_json::from_str::<Note>(bad).is_err());
        let odd = r#"{"calls":{"a b":1},"host_calls":1,"fuel":0,"flops":0,"peak_tensor_bytes":0,"peak_memory_bytes":0}"#;
        assert!(serde_json::from_str::<AuditSummary>(odd).is_err());
    }
}
