//! Summaries over seeds: mean, standard error and a 95% interval.
//!
//! A figure measured under `n` seeds is summarized by its mean, the sample
//! standard deviation (divisor `n - 1`), the standard error `sd / sqrt(n)`
//! and the two-sided 95% interval `mean ± t · se`, where `t` is the 0.975
//! quantile of Student's t distribution with `n - 1` degrees of freedom.
//! With 5 seeds `t` is 2.776, not the normal 1.96: a small number of seeds
//! earns a wide interval, on purpose. With one value there is no spread to
//! estimate, and the summary says so (no `sd`, `se` or interval).
//!
//! The t quantile is computed, not looked up: for integer degrees of freedom
//! the t distribution's two-sided probability has a closed form as a finite
//! sum (Abramowitz and Stegun, *Handbook of Mathematical Functions*, 26.7.3
//! and 26.7.4), which [`t_quantile`] inverts by bisection to full `f64`
//! precision. The tests check it against the closed forms for 1 and 2
//! degrees of freedom and against the NIST/SEMATECH table of critical values.

use serde::{Deserialize, Serialize};

/// Confidence of the intervals in every report.
pub const CONFIDENCE: f64 = 0.95;
/// Largest degrees of freedom [`t_quantile`] accepts: each evaluation of the
/// distribution costs `O(df)` (seed counts are far below this).
pub const MAX_DF: u32 = 100_000;

/// A figure over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Sample standard deviation (divisor `n - 1`); `None` when `n < 2`.
    pub sd: Option<f64>,
    /// Standard error of the mean, `sd / sqrt(n)`; `None` when `n < 2`.
    pub se: Option<f64>,
    /// The t quantile used for the interval (0.975, `n - 1` degrees of
    /// freedom); `None` when `n < 2`.
    pub t: Option<f64>,
    /// Two-sided 95% interval `[mean - t·se, mean + t·se]`; `None` when
    /// `n < 2`.
    pub ci95: Option<[f64; 2]>,
}

impl Summary {
    /// Summarizes `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Some(Self {
                n,
                mean,
                sd: None,
                se: None,
                t: None,
                ci95: None,
            });
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let se = sd / (n as f64).sqrt();
        let df = u32::try_from(n - 1).unwrap_or(MAX_DF).min(MAX_DF);
        let t = t_quantile(0.5 + CONFIDENCE / 2.0, df);
        Some(Self {
            n,
            mean,
            sd: Some(sd),
            se: Some(se),
            t: Some(t),
            ci95: Some([mean - t * se, mean + t * se]),
        })
    }
}

/// `P(-t < T < t)` for Student's t with `df` degrees of freedom, `t >= 0`
/// (Abramowitz and Stegun 26.7.3 for odd `df`, 26.7.4 for even `df`).
pub fn t_central_probability(t: f64, df: u32) -> f64 {
    assert!(df >= 1, "the t distribution needs df >= 1");
    let theta = (t / f64::from(df).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    let c2 = c * c;
    if df % 2 == 1 {
        // (2/π)[θ + sinθ (cosθ + 2/3 cos³θ + ... + (2·4···(ν-3))/(1·3···(ν-2)) cos^(ν-2)θ)]
        let mut sum = 0.0;
        if df > 1 {
            let mut term = c;
            sum = term;
            let mut j = 1u32;
            while 2 * j < df - 1 {
                term *= c2 * f64::from(2 * j) / f64::from(2 * j + 1);
                sum += term;
                j += 1;
            }
        }
        (2.0 / std::f64::consts::PI) * (theta + s * sum)
    } else {
        // sinθ [1 + 1/2 cos²θ + (1·3)/(2·4) cos⁴θ + ... + (1·3···(ν-3))/(2·4···(ν-2)) cos^(ν-2)θ]
        let mut term = 1.0;
        let mut sum = term;
        let mut j = 1u32;
        while 2 * j < df {
            term *= c2 * f64::from(2 * j - 1) / f64::from(2 * j);
            sum += term;
            j += 1;
        }
        s * sum
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom, for
/// `p` in (0.5, 1): the `t` with `P(T <= t) = p`. Inverts
/// [`t_central_probability`] by bisection to the last bit.
pub fn t_quantile(p: f64, df: u32) -> f64 {
    assert!(p > 0.5 && p < 1.0, "t_quantile: p must be in (0.5, 1)");
    assert!((1..=MAX_DF).contains(&df), "t_quantile: df out of range");
    let target = 2.0 * p - 1.0;
    let mut hi = 1.0;
    while t_central_probability(hi, df) < target {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return hi;
        }
        if t_central_probability(mid, df) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
}

/// `x` rounded to two decimals: the resolution of feedback.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantile_matches_closed_forms() {
        // df = 1 is the Cauchy distribution: t = tan(π (p - 1/2)).
        let exact1 = (std::f64::consts::PI * 0.475).tan(); // 12.706204736174...
        assert!(close(t_quantile(0.975, 1), exact1, 1e-9 * exact1));
        // df = 2: t = (2p - 1) sqrt(2 / (4 p (1 - p))) = 4.302652729749464.
        let exact2 = 0.95 * (2.0f64 / (4.0 * 0.975 * 0.025)).sqrt();
        assert!(close(t_quantile(0.975, 2), exact2, 1e-12));
    }

    #[test]
    fn t_quantile_matches_the_nist_table() {
        // NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2,
        // "Critical values of Student's t distribution", column 0.025
        // (upper tail), three decimals.
        let table = [
            (1, 12.706),
            (2, 4.303),
            (3, 3.182),
            (4, 2.776),
            (5, 2.571),
            (6, 2.447),
            (7, 2.365),
            (8, 2.306),
            (9, 2.262),
            (10, 2.228),
            (15, 2.131),
            (20, 2.086),
            (30, 2.042),
            (60, 2.000),
            (100, 1.984),
        ];
        for (df, expected) in table {
            let t = t_quantile(0.975, df);
            assert!(close(t, expected, 5e-4), "df {df}: {t} vs {expected}");
        }
        // Column 0.005 of the same table.
        assert!(close(t_quantile(0.995, 4), 4.604, 5e-4));
        assert!(close(t_quantile(0.995, 9), 3.250, 5e-4));
        // Large df approaches the normal 0.975 quantile, 1.959963984540054.
        assert!(close(t_quantile(0.975, 100_000), 1.959963984540054, 1e-4));
    }

    #[test]
    fn central_probability_is_monotone_and_bounded() {
        for df in [1, 2, 3, 4, 7, 30] {
            let mut last = 0.0;
            for i in 0..200 {
                let p = t_central_probability(f64::from(i) * 0.1, df);
                assert!(
                    (0.0..=1.0 + 1e-12).contains(&p) && p >= last - 1e-12,
                    "df {df}"
                );
                last = p;
            }
        }
    }

    #[test]
    fn summary_of_five_seeds() {
        // mean 3, sample variance 2.5, se sqrt(0.5); t(0.975, 4) = 2.7764451...
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!(s.mean, 3.0);
        assert!(close(s.sd.unwrap(), 2.5f64.sqrt(), 1e-12));
        assert!(close(s.se.unwrap(), 0.5f64.sqrt(), 1e-12));
        let half = 2.776445105 * 0.5f64.sqrt();
        let [lo, hi] = s.ci95.unwrap();
        assert!(close(lo, 3.0 - half, 1e-8) && close(hi, 3.0 + half, 1e-8));
    }

    #[test]
    fn one_value_has_no_interval_and_none_has_no_summary() {
        let s = Summary::of(&[0.7]).unwrap();
        assert_eq!((s.n, s.mean, s.se, s.ci95), (1, 0.7, None, None));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn rounding_to_hundredths() {
        assert_eq!(round2(0.37841), 0.38);
        assert_eq!(round2(-0.8849), -0.88);
        assert_eq!(round2(0.005000001), 0.01);
    }
}
