//! Method orderings compared across tasks (bundles given with `--task`,
//! and any families run beside them): does a task separate the methods,
//! and does it rank them as another task does? Computed from the private
//! PGR means, never written by hand.

use super::discussion::private;
use super::results::Bench;

/// Average ranks (1 = highest) of `values`, ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation of two paired lists (Pearson's on their
/// average ranks); `None` under three pairs or with a constant list.
pub(crate) fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Each task's spread of private PGR over methods, and the rank
/// correlation of every pair of tasks over the methods scored on both.
pub(crate) fn sentences(b: &Bench, out: &mut Vec<String>) {
    let methods = b.methods.len();
    for (ti, t) in b.families.iter().enumerate() {
        let means: Vec<f64> = (0..methods)
            .filter_map(|mi| private(b, ti, mi).map(|s| s.mean))
            .collect();
        if means.len() < 2 {
            continue;
        }
        let (lo, hi) = means
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &m| {
                (l.min(m), h.max(m))
            });
        out.push(format!(
            "On {}, the {} methods scored span private PGR {lo:.3} to {hi:.3} (a spread of {:.3}).",
            t.label,
            means.len(),
            hi - lo
        ));
    }
    for a in 0..b.families.len() {
        for c in a + 1..b.families.len() {
            let (x, y): (Vec<f64>, Vec<f64>) = (0..methods)
                .filter_map(|mi| Some((private(b, a, mi)?.mean, private(b, c, mi)?.mean)))
                .unzip();
            let (ta, tc) = (&b.families[a].label, &b.families[c].label);
            match spearman(&x, &y) {
                Some(r) => out.push(format!(
                    "Method orderings on {ta} and on {tc}: Spearman rank correlation {r:+.2} over \
                     {} methods.",
                    x.len()
                )),
                None => out.push(format!(
                    "Method orderings on {ta} and on {tc}: not comparable ({} methods scored on \
                     both).",
                    x.len()
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[0.1, 0.3, 0.3, 0.2]), [4.0, 1.5, 1.5, 3.0]);
    }

    #[test]
    fn spearman_of_same_reversed_and_too_short_lists() {
        let x = [0.1, 0.2, 0.3, 0.4];
        assert!((spearman(&x, &[1.0, 2.0, 3.0, 9.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&x[..2], &[1.0, 2.0]), None);
        assert_eq!(spearman(&x, &[1.0, 1.0, 1.0, 1.0]), None);
        // scipy.stats.spearmanr([1,2,3,4,5], [2,1,4,3,5]) = 0.8
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap();
        assert!((r - 0.8).abs() < 1e-12, "{r}");
    }
}
