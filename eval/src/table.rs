//! The tables `w2s` prints: a report, its feedback, a suite report.
//!
//! They live in the library, not in the binary, so that an embedder (a
//! research harness, a notebook) prints exactly what `w2s eval` prints.
//!
//! Every accuracy and PGR is rounded to 0.01 (the resolution people see);
//! full-precision figures live only in the JSON report.

use crate::Report;
use crate::controls::{ControlReport, Controls, Verdict};
use crate::feedback::Feedback;
use crate::flags::Flag;
use crate::runs::{RunEntry, failure_line};
use crate::seeds::SeedSource;
use crate::stats::{Summary, round2};
use crate::suite::SuiteReport;
use w2s_verdict::CacheStatus;

fn gflop(flops: u64) -> String {
    format!("{:.2} GFLOP", flops as f64 / 1e9)
}

/// A figure at the resolution people see: two decimals.
pub fn coarse(x: f64) -> String {
    format!("{:.2}", round2(x))
}

/// `0.38  95% CI [0.36, 0.40]`, or `0.38 (one seed: no interval)`.
pub fn coarse_summary(s: &Summary) -> String {
    match s.ci95 {
        Some([lo, hi]) => format!(
            "{}  95% CI [{}, {}]",
            coarse(s.mean),
            coarse(lo),
            coarse(hi)
        ),
        None => format!("{} (one seed: no interval)", coarse(s.mean)),
    }
}

/// The evaluator's table of a report. Every accuracy and PGR is rounded to
/// 0.01; exact figures are only in the JSON report.
pub fn report_table(report: &Report) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let n = report.seeds.values.len();
    let source = match report.seeds.source {
        SeedSource::Secret => format!(
            "{n}, host-chosen (secret sha256:{})",
            report
                .seeds
                .secret_commitment
                .as_deref()
                .map_or("?", |c| &c[..c.len().min(16)])
        ),
        SeedSource::Flag => format!("{n}, given with --seed"),
    };
    rows.push(("seeds", source));
    if let Some(s) = &report.score {
        let b = &s.baselines;
        rows.push((
            "weak_acc",
            format!(
                "public {}, private {}  (deterministic: n = 1)",
                coarse(b.weak.public_acc),
                coarse(b.weak.private_acc)
            ),
        ));
        rows.push((
            "ceiling_acc",
            format!(
                "public {}, private {}  (mean of {} seeds, cache: {})",
                coarse(s.public.ceiling_acc),
                coarse(s.private.ceiling_acc),
                b.ceiling.seeds.len(),
                cache_word(&b.cache)
            ),
        ));
        if let (Some(pa), Some(pr)) = (&s.public.student_acc, &s.private.student_acc) {
            let arch = s.public.per_seed.first().map_or("", |x| x.arch.as_str());
            rows.push((
                "student_acc",
                format!(
                    "public {}, private {}  (mean of {} seeds, {arch})",
                    coarse(pa.mean),
                    coarse(pr.mean),
                    pa.n
                ),
            ));
        }
        if let Some(p) = &s.public.pgr {
            rows.push((
                "public PGR",
                format!("{}  (development)", coarse_summary(p)),
            ));
        }
        if let Some(p) = &s.private.pgr {
            rows.push(("private PGR", format!("{}  (ranking)", coarse_summary(p))));
        }
        rows.extend(s.private.subsets.iter().map(subset_row));
    } else {
        rows.push(("PGR", "not scored (no run completed)".to_owned()));
    }
    if let Some(c) = &report.controls {
        rows.push(("controls", controls_line(c)));
    }
    rows.push(("flags", flags_line(&report.flags)));
    rows.push((
        "rankable",
        if report.rankable.value {
            "yes".to_owned()
        } else {
            format!("no: {}", report.rankable.reasons.join("; "))
        },
    ));
    rows.push(("runs", runs_line(&report.runs)));
    let fuel: u64 = report.runs.iter().map(|r| r.usage.fuel_consumed).sum();
    let flops: u64 = report.runs.iter().map(|r| r.usage.flops).sum();
    let steps: u64 = report.runs.iter().map(|r| r.usage.train_steps).sum();
    rows.push(("fuel used", format!("{fuel} instructions (all seeds)")));
    rows.push((
        "compute used",
        format!("{} in {steps} train steps (all seeds)", gflop(flops)),
    ));
    let runs_ms: u64 = report.timing.runs_ms.iter().sum();
    rows.push((
        "wall time",
        format!(
            "runs {:.2} s, controls {:.2} s, score {:.2} s",
            runs_ms as f64 / 1e3,
            report.timing.controls_ms as f64 / 1e3,
            report.timing.score_ms as f64 / 1e3
        ),
    ));
    rows.push((
        "wasm",
        format!("{} sha256:{}", report.wasm.file, report.wasm.sha256),
    ));
    rows.push((
        "task",
        format!("{} sha256:{}", report.task.name, report.task.hash),
    ));
    rows.push(("policy", format!("sha256:{}", report.policy.sha256)));
    for run in &report.runs {
        for (name, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if out.dropped_bytes > 0 {
                rows.push((
                    name,
                    format!(
                        "seed {}: kept {} bytes, dropped {} (over the limit)",
                        run.seed,
                        out.kept.len(),
                        out.dropped_bytes
                    ),
                ));
            }
        }
    }
    format_rows(&rows)
}

/// Right-aligned keys, two spaces, values.
pub fn format_rows(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:>width$}  {v}\n"));
    }
    out
}

/// `5/5 completed`, or with the first failure.
pub fn runs_line(runs: &[RunEntry]) -> String {
    let done = runs
        .iter()
        .filter(|r| r.outcome.code == "completed")
        .count();
    let mut line = format!("{done}/{} completed", runs.len());
    if let Some(failed) = runs.iter().find(|r| r.outcome.code != "completed") {
        line.push_str("; ");
        line.push_str(&failure_line(failed));
    }
    line
}

/// The flags' codes, or `none`.
pub fn flags_line(flags: &[Flag]) -> String {
    if flags.is_empty() {
        "none".to_owned()
    } else {
        flags.iter().map(|f| f.code).collect::<Vec<_>>().join(", ")
    }
}

fn controls_line(c: &Controls) -> String {
    let one = |name: &str, r: &ControlReport| {
        let pgr = r
            .private_pgr
            .as_ref()
            .map_or("-".to_owned(), |s| coarse(s.mean));
        let verdict = match r.verdict {
            Verdict::Drops => format!("drops {}", r.drop.map_or("-".to_owned(), coarse)),
            Verdict::DoesNotDrop => format!(
                "DOES NOT DROP ({} < {})",
                r.drop.map_or("-".to_owned(), coarse),
                coarse(c.drop_margin)
            ),
            Verdict::Inconclusive => "inconclusive".to_owned(),
        };
        format!("{name}: private PGR {pgr}, {verdict}")
    };
    c.each()
        .iter()
        .map(|(name, r)| one(name, r))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One named test subset's private figures, for the table.
fn subset_row(s: &crate::scores::SubsetReport) -> (&'static str, String) {
    let acc = s
        .student_acc
        .as_ref()
        .map_or("-".to_owned(), |a| coarse(a.mean));
    let pgr = s.pgr.as_ref().map_or("no gap".to_owned(), coarse_summary);
    let text = format!(
        "{}: private PGR {pgr}, student {acc}, weak {}, ceiling {} (n = {})",
        s.name,
        coarse(s.weak_acc),
        coarse(s.ceiling_acc),
        s.size
    );
    ("  subset", text)
}

fn cache_word(s: &CacheStatus) -> &'static str {
    match s {
        CacheStatus::Hit => "hit",
        CacheStatus::Miss => "computed",
        CacheStatus::Recomputed { .. } => "recomputed",
    }
}

/// The table `--feedback-only` prints.
pub fn feedback_table(feedback: &Feedback, runs: &[RunEntry], flags: &[Flag]) -> String {
    let pgr = match (feedback.public_pgr, feedback.public_pgr_ci95) {
        (Some(m), Some([lo, hi])) => {
            format!(
                "{m:.2}  95% CI [{lo:.2}, {hi:.2}]  ({} seeds, public test part)",
                feedback.completed
            )
        }
        (Some(m), None) => format!("{m:.2}  (one seed: no interval; public test part)"),
        _ => "not scored".to_owned(),
    };
    let mut rows = vec![("public PGR", pgr), ("runs", runs_line(runs))];
    rows.push(("flags", flags_line(flags)));
    for f in flags {
        rows.push((f.code, f.message.clone()));
    }
    rows.push((
        "rankable",
        if feedback.rankable { "yes" } else { "no" }.to_owned(),
    ));
    format_rows(&rows)
}

/// Per-task PGR and the worst case; public figures only with
/// `feedback_only`. Rounded to 0.01 either way.
pub fn suite_table(r: &SuiteReport, feedback_only: bool) -> String {
    let fig = |v: Option<f64>| v.map_or("not scored".to_owned(), coarse);
    let mut rows: Vec<(String, String)> = Vec::new();
    for t in &r.summary {
        let flags = if t.flags.is_empty() {
            String::new()
        } else {
            format!("  flags: {}", t.flags.join(", "))
        };
        let line = if feedback_only {
            format!("public PGR {}{flags}", fig(t.public_pgr))
        } else {
            format!(
                "public PGR {}, private PGR {}{flags}",
                fig(t.public_pgr),
                fig(t.private_pgr)
            )
        };
        rows.push((t.task.clone(), line));
    }
    let worst = |w: &Option<(String, f64)>| {
        w.as_ref()
            .map_or("a task was not scored".to_owned(), |(t, v)| {
                format!("{} ({t})", coarse(*v))
            })
    };
    if feedback_only {
        rows.push((
            "worst".to_owned(),
            format!("public PGR {}", worst(&r.worst.public)),
        ));
    } else {
        rows.push((
            "worst".to_owned(),
            format!(
                "public PGR {}, private PGR {}",
                worst(&r.worst.public),
                worst(&r.worst.private)
            ),
        ));
    }
    rows.push((
        "suite".to_owned(),
        format!(
            "{} ({}) sha256:{}",
            r.suite.name(),
            r.suite.source(),
            r.suite.sha256()
        ),
    ));
    let rows: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    format_rows(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_figures_have_two_decimals() {
        assert_eq!(coarse(0.378412), "0.38");
        assert_eq!(coarse(-0.8849), "-0.88");
        let s = Summary::of(&[0.3, 0.4]).unwrap();
        assert!(
            coarse_summary(&s).starts_with("0.35  95% CI ["),
            "{}",
            coarse_summary(&s)
        );
    }
}
