//! What the service takes from a report: the summary shown with a
//! submission, the leaderboard row, and the competition-mode redaction.
//!
//! Every figure comes from the scorer's section (`score`) of the report that
//! `w2s eval` wrote in the worker's child process; nothing a submitter sent
//! is read here.

use serde_json::{Value, json};

use crate::store::leaderboard::Entry;

/// The figures of one split: `{pgr_mean, pgr_se, pgr_ci95, student_acc_mean,
/// weak_acc, ceiling_acc}`, or `None` when the report has no such split.
fn split_figures(report: &Value, split: &str) -> Option<Value> {
    let s = report.pointer(&format!("/score/{split}"))?;
    let pgr = s.get("pgr")?;
    Some(json!({
        "pgr_mean": pgr.get("mean")?.as_f64()?,
        // null when undefined (one seed).
        "pgr_se": pgr.get("se")?.as_f64(),
        "pgr_ci95": pgr.get("ci95")?.clone(),
        "student_acc_mean": s.pointer("/student_acc/mean")?.as_f64()?,
        "weak_acc": s.get("weak_acc")?.as_f64()?,
        "ceiling_acc": s.get("ceiling_acc")?.as_f64()?,
    }))
}

/// The stored summary of a report: `{"private": figures|null, "public":
/// figures|null, "flags": [code…], "rankable": bool}`.
pub(crate) fn stored_summary(report: &Value) -> Value {
    let flags: Vec<Value> = report
        .get("flags")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(|x| x.get("code").cloned()).collect())
        .unwrap_or_default();
    json!({
        "private": split_figures(report, "private"),
        "public": split_figures(report, "public"),
        "flags": flags,
        "rankable": rankable(report),
    })
}

fn rankable(report: &Value) -> bool {
    report.pointer("/rankable/value").and_then(Value::as_bool) == Some(true)
}

/// The summary the API shows, on the private split or (competition mode)
/// the public one: the stored figures plus `split` and `flags`; `null` when
/// the report has no figures for that split (a suite report, a failed run).
pub(crate) fn shown_summary(stored: &Value, public: bool) -> Value {
    let split = if public { "public" } else { "private" };
    match stored.get(split) {
        Some(Value::Object(fig)) => {
            let mut out = fig.clone();
            out.insert("split".into(), json!(split));
            out.insert(
                "flags".into(),
                stored.get("flags").cloned().unwrap_or(json!([])),
            );
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// The leaderboard row of a report, when it is rankable (host-chosen
/// seeds, every run completed and scored) and has both splits' figures.
pub(crate) fn entry(report: &Value, task: &str, name: &str, submitter: &str) -> Option<Entry> {
    if !rankable(report) {
        return None;
    }
    let figures = |split| {
        let f = split_figures(report, split)?;
        Some((
            [f["pgr_mean"].as_f64()?, f["student_acc_mean"].as_f64()?],
            f["pgr_se"].as_f64(),
        ))
    };
    let (private, private_se) = figures("private")?;
    let (public, public_se) = figures("public")?;
    Some(Entry {
        task: task.to_owned(),
        name: name.to_owned(),
        submitter: submitter.to_owned(),
        private,
        private_se,
        public,
        public_se,
    })
}

/// Removes every private-split figure from a report (competition mode):
/// each object key named `private` or starting with `private_`, anywhere.
pub(crate) fn redact_private(report: &mut Value) {
    match report {
        Value::Object(map) => {
            map.retain(|k, _| k != "private" && !k.starts_with("private_"));
            map.values_mut().for_each(redact_private);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_private),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rankable: bool) -> Value {
        let split = |pgr: f64| {
            json!({"weak_acc": 0.5, "ceiling_acc": 0.9,
                   "student_acc": {"mean": 0.7},
                   "pgr": {"mean": pgr, "se": 0.01, "ci95": [pgr - 0.02, pgr + 0.02]}})
        };
        json!({"rankable": {"value": rankable}, "flags": [{"code": "x", "message": "m"}],
               "score": {"public": split(0.4), "private": split(0.5),
                         "baselines": {"weak": {"public_acc": 0.5, "private_acc": 0.5}}}})
    }

    #[test]
    fn entry_takes_both_splits_from_the_score() {
        let e = entry(&report(true), "t", "n", "s").unwrap();
        assert_eq!((e.private, e.private_se), ([0.5, 0.7], Some(0.01)));
        assert_eq!((e.public, e.public_se), ([0.4, 0.7], Some(0.01)));
    }

    #[test]
    fn unrankable_reports_get_no_entry() {
        assert!(entry(&report(false), "t", "n", "s").is_none());
    }

    #[test]
    fn shown_summary_picks_the_split() {
        let stored = stored_summary(&report(true));
        assert_eq!(shown_summary(&stored, false)["pgr_mean"], 0.5);
        assert_eq!(shown_summary(&stored, true)["pgr_mean"], 0.4);
        assert_eq!(shown_summary(&stored, true)["split"], "public");
        assert_eq!(shown_summary(&stored, true)["flags"], json!(["x"]));
    }

    #[test]
    fn redaction_removes_every_private_figure() {
        let mut r = report(true);
        redact_private(&mut r);
        let text = r.to_string();
        assert!(!text.contains("private"), "{text}");
        assert!(r.pointer("/score/public/pgr").is_some());
    }
}
