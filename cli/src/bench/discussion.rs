//! The discussion's comparative sentences, computed from the bench's
//! figures (private PGR), never written by hand.

use w2s_scorer::stats::Summary;

use super::results::{Bench, mean_se};

/// The plugin every other method is compared with.
const BASELINE: &str = "vanilla";

/// Whether `a - b` exceeds twice its standard error (both need one).
fn clear(a: &Summary, b: &Summary) -> Option<bool> {
    let (sa, sb) = (a.se?, b.se?);
    let se = (sa * sa + sb * sb).sqrt();
    Some(a.mean - b.mean > 2.0 * se)
}

fn private(b: &Bench, family: usize, method: usize) -> Option<&Summary> {
    b.families[family].cells[method]
        .outcome
        .as_ref()
        .ok()
        .map(|s| &s.private_pgr)
}

fn signed(x: f64) -> String {
    format!("{x:+.3}")
}

/// Each method against the baseline, across families.
fn versus_baseline(b: &Bench, out: &mut Vec<String>) {
    let Some(base) = b.methods.iter().position(|m| m.method.plugin == BASELINE) else {
        out.push(format!(
            "The baseline `{BASELINE}` was not run, so no method is compared with it."
        ));
        return;
    };
    let base_label = &b.methods[base].method.label;
    for (mi, m) in b.methods.iter().enumerate() {
        if mi == base {
            continue;
        }
        let (mut n, mut wins, mut better, mut worse, mut delta) = (0, 0, 0, 0, 0.0);
        for fi in 0..b.families.len() {
            let (Some(x), Some(y)) = (private(b, fi, mi), private(b, fi, base)) else {
                continue;
            };
            n += 1;
            delta += x.mean - y.mean;
            wins += usize::from(x.mean > y.mean);
            better += usize::from(clear(x, y) == Some(true));
            worse += usize::from(clear(y, x) == Some(true));
        }
        if n == 0 {
            out.push(format!(
                "{} and {base_label} were never both scored on one family.",
                m.method.label
            ));
            continue;
        }
        out.push(format!(
            "{} beats {base_label} on {wins} of {n} families (mean ΔPGR {}; clearly better on \
             {better}, clearly worse on {worse}).",
            m.method.label,
            signed(delta / n as f64)
        ));
    }
}

/// The best method on each family, and the hardest family.
fn per_family(b: &Bench, out: &mut Vec<String>) {
    let mut means: Vec<(String, f64)> = Vec::new();
    for (fi, f) in b.families.iter().enumerate() {
        let scored: Vec<(usize, &Summary)> = (0..b.methods.len())
            .filter_map(|mi| private(b, fi, mi).map(|s| (mi, s)))
            .collect();
        let Some(&(best, s)) = scored.iter().max_by(|a, c| a.1.mean.total_cmp(&c.1.mean)) else {
            out.push(format!("On {}, no method was scored.", f.family));
            continue;
        };
        if scored.len() == 1 {
            out.push(format!(
                "On {}, {} reaches private PGR {}.",
                f.family,
                b.methods[best].method.label,
                mean_se(s)
            ));
        } else {
            let (worst, w) = scored
                .iter()
                .min_by(|a, c| a.1.mean.total_cmp(&c.1.mean))
                .copied()
                .expect("non-empty");
            out.push(format!(
                "On {}, the best method is {} (private PGR {}) and the weakest {} ({}).",
                f.family,
                b.methods[best].method.label,
                mean_se(s),
                b.methods[worst].method.label,
                mean_se(w)
            ));
        }
        let mean = scored.iter().map(|(_, s)| s.mean).sum::<f64>() / scored.len() as f64;
        means.push((f.family.to_string(), mean));
    }
    if means.len() > 1 {
        let (hard, h) = means
            .iter()
            .min_by(|a, c| a.1.total_cmp(&c.1))
            .expect("non-empty");
        let (easy, e) = means
            .iter()
            .max_by(|a, c| a.1.total_cmp(&c.1))
            .expect("non-empty");
        out.push(format!(
            "Averaged over the methods scored on it, the hardest family is {hard} (mean private \
             PGR {h:.3}) and the easiest {easy} ({e:.3})."
        ));
    }
}

/// Evaluations that gave no figures.
fn failures(b: &Bench, out: &mut Vec<String>) {
    for (mi, m) in b.methods.iter().enumerate() {
        let failed: Vec<String> = b
            .families
            .iter()
            .filter(|f| f.cells[mi].outcome.is_err())
            .map(|f| f.family.to_string())
            .collect();
        if !failed.is_empty() {
            out.push(format!(
                "{} gave no score on {} (see its error in the table).",
                m.method.label,
                failed.join(", ")
            ));
        }
    }
}

/// The discussion's sentences, in order: each method against the
/// baseline, each family's best method, the hardest family, failures.
pub(crate) fn sentences(b: &Bench) -> Vec<String> {
    let mut out = Vec::new();
    versus_baseline(b, &mut out);
    per_family(b, &mut out);
    failures(b, &mut out);
    out
}
