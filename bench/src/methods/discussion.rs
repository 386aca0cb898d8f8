//! The discussion's comparative sentences, computed from the bench's
//! figures (private PGR), never written by hand.

use w2s_eval::stats::Summary;

use super::results::{Bench, mean_se};

/// The plugin every other method is compared with.
const BASELINE: &str = "vanilla";

/// Whether `a - b` exceeds twice its standard error (both need one).
fn clear(a: &Summary, b: &Summary) -> Option<bool> {
    let (sa, sb) = (a.se?, b.se?);
    let se = (sa * sa + sb * sb).sqrt();
    Some(a.mean - b.mean > 2.0 * se)
}

pub(crate) fn private(b: &Bench, family: usize, method: usize) -> Option<&Summary> {
    b.families[family].cells[method]
        .outcome
        .as_ref()
        .ok()
        .map(|s| &s.private_pgr)
}

pub(crate) fn signed(x: f64) -> String {
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
                "{} and {base_label} were never both scored on one {}.",
                m.method.label,
                b.unit().0
            ));
            continue;
        }
        out.push(format!(
            "{} beats {base_label} on {wins} of {n} {} (mean ΔPGR {}; clearly better on \
             {better}, clearly worse on {worse}).",
            m.method.label,
            b.unit().1,
            signed(delta / n as f64)
        ));
    }
}

/// Orderings the literature reports, checked against the figures:
/// `(better plugin, worse plugin, what the source found)`. The check says
/// on how many families the ordering holds here; it never edits the claim.
const LITERATURE: [(&str, &str, &str); 5] = [
    (
        "logconf",
        "vanilla",
        "Burns et al. 2023: the auxiliary confidence loss beats naive fine-tuning on most NLP tasks",
    ),
    (
        "bootstrap",
        "vanilla",
        "Burns et al. 2023: bootstrapping helps on chess puzzles (there through intermediate model \
         sizes)",
    ),
    (
        "soft-label",
        "vanilla",
        "Hinton et al. 2015: soft targets carry more information than hard labels",
    ),
    (
        "confident-only",
        "vanilla",
        "Guo & Yang 2024: dropping the weak labels the teacher is least sure of improves \
         weak-to-strong generalization",
    ),
    (
        "noisy-channel-em",
        "vanilla",
        "Sukhbaatar et al. 2015: modelling the label-noise channel helps under label noise",
    ),
];

/// Each ordering of [`LITERATURE`] whose two methods were both run: on how
/// many families it holds, and whether that reproduces the claim.
fn against_literature(b: &Bench, out: &mut Vec<String>) {
    let index = |plugin: &str| b.methods.iter().position(|m| m.method.plugin == plugin);
    for (better, worse, claim) in LITERATURE {
        let (Some(bi), Some(wi)) = (index(better), index(worse)) else {
            continue;
        };
        let (mut n, mut holds, mut clearly) = (0, 0, 0);
        for fi in 0..b.families.len() {
            let (Some(x), Some(y)) = (private(b, fi, bi), private(b, fi, wi)) else {
                continue;
            };
            n += 1;
            holds += usize::from(x.mean > y.mean);
            clearly += usize::from(clear(x, y) == Some(true));
        }
        if n == 0 {
            continue;
        }
        let verdict = if holds == n {
            "reproduced"
        } else if holds == 0 {
            "not reproduced"
        } else {
            "partly reproduced"
        };
        out.push(format!(
            "Literature: {claim}. Here {} > {} holds on {holds} of {n} {} (clearly on \
             {clearly}): {verdict}.",
            b.methods[bi].method.label,
            b.methods[wi].method.label,
            b.unit().1
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
            out.push(format!("On {}, no method was scored.", f.label));
            continue;
        };
        if scored.len() == 1 {
            out.push(format!(
                "On {}, {} reaches private PGR {}.",
                f.label,
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
                f.label,
                b.methods[best].method.label,
                mean_se(s),
                b.methods[worst].method.label,
                mean_se(w)
            ));
        }
        let mean = scored.iter().map(|(_, s)| s.mean).sum::<f64>() / scored.len() as f64;
        means.push((f.label.clone(), mean));
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
            "Averaged over the methods scored on it, the hardest {} is {hard} (mean private \
             PGR {h:.3}) and the easiest {easy} ({e:.3}).",
            b.unit().0
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
            .map(|f| f.label.clone())
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
/// baseline, the literature's orderings checked, each family's best method, the hardest family,
/// (with bundles) the orderings compared across tasks, failures.
pub(crate) fn sentences(b: &Bench) -> Vec<String> {
    let mut out = Vec::new();
    versus_baseline(b, &mut out);
    against_literature(b, &mut out);
    per_family(b, &mut out);
    if !b.only_families() {
        super::orderings::sentences(b, &mut out);
    }
    failures(b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use w2s_train::synth::Family;

    use super::*;
    use w2s_eval::report::Versions;

    use crate::methods::methods_file::Method;
    use crate::methods::results::{Cell, MethodInfo, Scored, TaskKind, TaskResult, render};

    fn summary(mean: f64, se: f64) -> Summary {
        Summary {
            n: 5,
            mean,
            sd: Some(se * 5f64.sqrt()),
            se: Some(se),
            t: Some(2.776),
            ci95: Some([mean - 2.776 * se, mean + 2.776 * se]),
        }
    }

    fn cell(pgr: f64, se: f64) -> Cell {
        Cell {
            outcome: Ok(Scored {
                private_pgr: summary(pgr, se),
                public_pgr: summary(pgr, se),
                private_student: summary(0.7, 0.01),
                public_student: summary(0.7, 0.01),
                completed: 5,
                runs: 5,
                failures: Vec::new(),
                flags: Vec::new(),
            }),
            wall_s: 1.0,
        }
    }

    fn method(plugin: &str) -> MethodInfo {
        MethodInfo {
            method: Method {
                plugin: plugin.to_owned(),
                label: plugin.to_owned(),
                source: "s".to_owned(),
                config: String::new(),
                smoke_config: String::new(),
            },
            config: String::new(),
            wasm_sha256: Some("ab".repeat(32)),
        }
    }

    fn family(family: Family, cells: Vec<Cell>) -> TaskResult {
        TaskResult {
            label: family.to_string(),
            kind: TaskKind::Family(family),
            task_name: format!("synth-{family}"),
            task_hash: "cd".repeat(32),
            weak: None,
            ceiling: None,
            cells,
        }
    }

    /// Two methods on three families: `logconf` clearly beats vanilla on
    /// latent (+0.10, se 0.01 each), loses within noise on label-noise
    /// (-0.01) and fails on slice-errors.
    fn bench() -> Bench {
        let failed = Cell {
            outcome: Err("no run completed (trap)".to_owned()),
            wall_s: 0.5,
        };
        Bench {
            command: "w2s bench methods".to_owned(),
            smoke: false,
            seeds: 5,
            seed_source: "host-chosen".to_owned(),
            policy: "p".to_owned(),
            versions: Versions::current(),
            methods: vec![method("vanilla"), method("logconf")],
            families: vec![
                family(Family::Latent, vec![cell(0.30, 0.01), cell(0.40, 0.01)]),
                family(Family::LabelNoise, vec![cell(0.20, 0.01), cell(0.19, 0.01)]),
                family(Family::SliceErrors, vec![cell(0.10, 0.01), failed]),
            ],
            total_wall_s: 3.0,
            controls: false,
        }
    }

    #[test]
    fn sentences_are_computed_from_the_figures() {
        let s = sentences(&bench());
        assert_eq!(
            s[0],
            "logconf beats vanilla on 1 of 2 families (mean ΔPGR +0.045; clearly better on 1, \
             clearly worse on 0)."
        );
        assert_eq!(
            s[1],
            "Literature: Burns et al. 2023: the auxiliary confidence loss beats naive fine-tuning \
             on most NLP tasks. Here logconf > vanilla holds on 1 of 2 families (clearly on 1): \
             partly reproduced."
        );
        assert!(s[2].starts_with("On latent, the best method is logconf (private PGR 0.400"));
        assert!(s[3].starts_with("On label-noise, the best method is vanilla"));
        assert!(s[4].starts_with("On slice-errors, vanilla reaches private PGR 0.100"));
        assert!(s[5].contains("hardest family is slice-errors"), "{}", s[5]);
        assert_eq!(
            s[6],
            "logconf gave no score on slice-errors (see its error in the table)."
        );
    }

    #[test]
    fn the_file_records_errors_in_the_table_and_includes_the_literature() {
        let md = render(&bench());
        assert!(
            md.contains("| logconf | s | error: no run completed (trap) |"),
            "{md}"
        );
        assert!(md.contains("Burns et al. (2023"), "{md}");
        assert!(md.contains("Generated by `w2s bench methods`."), "{md}");
    }
}
