//! Part of the fifth stage: flags (what a reviewer must look at) and
//! rankability.
//!
//! A flag is a short code and a sentence; the codes are the stable part:
//!
//! | code | raised when |
//! |---|---|
//! | `seeds-from-flag` | the seeds were given with `--seed` |
//! | `incomplete-runs` | some run did not complete |
//! | `does-not-use-teacher` | a control did not drop PGR by the margin ([`crate::controls`]) |
//! | `control-inconclusive` | a control run did not complete |
//! | `near-constant-predictions` | a student is near-constant on the pool ([`crate::degeneracy`]) |
//! | `class-distribution-shift` | a student's class balance is far from the teacher's |
//! | `small-gap` | the task's weak-ceiling gap is under 3 standard errors ([`crate::gap`]) |
//!
//! Messages state thresholds and seeds, never a held-out figure: they are
//! shown to submitters. A report is *rankable* when its seeds were chosen by
//! the host and every run completed and was scored; flags do not change
//! that, they are for review.

use serde::Serialize;
use w2s_host::Outcome;

use crate::controls::{self, Controls};
use crate::degeneracy::Degeneracy;
use crate::runs::RunEntry;
use crate::seeds::SeedPlan;
use w2s_verdict::gap::{GapEstimate, SMALL_GAP_SES};

/// Something a reviewer must look at.
#[derive(Debug, Serialize)]
pub struct Flag {
    /// The flag's stable code (see the table above).
    pub code: &'static str,
    /// What was seen, in words: thresholds and seeds, never a held-out
    /// figure.
    pub message: String,
}

/// Whether a ranking may use this report, and if not, why.
#[derive(Debug, Serialize)]
pub struct Rankable {
    /// Whether it is.
    pub value: bool,
    /// Why not, when it is not.
    pub reasons: Vec<String>,
}

fn seed_list(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The flags of an evaluation, in the order of the table above.
pub fn flags(
    seeds: &SeedPlan,
    runs: &[RunEntry],
    d: &Degeneracy,
    controls: Option<&Controls>,
    gap: Option<&GapEstimate>,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut flag = |code, message: String| flags.push(Flag { code, message });
    if !seeds.rankable() {
        flag(
            "seeds-from-flag",
            "the seeds were given with --seed, not chosen by the host".to_owned(),
        );
    }
    let failed = runs
        .iter()
        .filter(|r| !matches!(r.outcome.detail, Outcome::Completed))
        .count();
    if failed > 0 {
        flag(
            "incomplete-runs",
            format!("{failed} of {} runs did not complete", runs.len()),
        );
    }
    if let Some(c) = controls {
        let names = |v: controls::Verdict| {
            let names: Vec<&str> = c
                .each()
                .iter()
                .filter(|(_, r)| r.verdict == v)
                .map(|(n, _)| *n)
                .collect();
            match names.split_last() {
                Some((last, rest)) if !rest.is_empty() => {
                    format!("{} and {last}", rest.join(", "))
                }
                _ => names.concat(),
            }
        };
        if c.does_not_use_teacher {
            flag(
                "does-not-use-teacher",
                format!(
                    "does not use the teacher: with {} in place of its labels, mean PGR did not drop by {}",
                    names(controls::Verdict::DoesNotDrop),
                    c.drop_margin
                ),
            );
        }
        if c.inconclusive {
            flag(
                "control-inconclusive",
                format!(
                    "no verdict for {}: a control run did not complete",
                    names(controls::Verdict::Inconclusive)
                ),
            );
        }
    }
    if !d.near_constant_seeds.is_empty() {
        flag(
            "near-constant-predictions",
            format!(
                "seeds {}: one class takes at least {:.0}% of the student's predictions on the pool",
                seed_list(&d.near_constant_seeds),
                d.near_constant_threshold * 100.0
            ),
        );
    }
    if !d.shifted_seeds.is_empty() {
        flag(
            "class-distribution-shift",
            format!(
                "seeds {}: the student's predicted class distribution on the pool is more than {} (total variation) from the teacher's",
                seed_list(&d.shifted_seeds),
                d.max_tv_to_weak
            ),
        );
    }
    if gap.is_some_and(GapEstimate::is_small) {
        flag(
            "small-gap",
            format!(
                "the task's gap between the weak teacher and the ceiling is under {SMALL_GAP_SES} standard errors of the test split: too small to rank methods (see the task card of `w2s task check`)"
            ),
        );
    }
    flags
}

/// Whether a ranking may use the evaluation: host-chosen seeds, every run
/// completed, and scored.
pub fn rankable(seeds: &SeedPlan, runs: &[RunEntry], scored: bool) -> Rankable {
    let mut reasons = Vec::new();
    if !seeds.rankable() {
        reasons.push("seeds given with --seed".to_owned());
    }
    if runs
        .iter()
        .any(|r| !matches!(r.outcome.detail, Outcome::Completed))
    {
        reasons.push("not every run completed".to_owned());
    }
    if !scored {
        reasons.push("not scored".to_owned());
    }
    Rankable {
        value: reasons.is_empty(),
        reasons,
    }
}
