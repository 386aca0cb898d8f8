//! Prometheus metrics in the text exposition format, written by hand:
//! request counts by route and status, evaluations of this process
//! (running, a duration histogram), and jobs by status from the database
//! (shared by every server and worker on it; `queued` is the queue depth).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the evaluation-duration histogram's buckets.
const BUCKETS_S: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// The counters of one process.
#[derive(Default, Debug)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    evals_running: AtomicU64,
    /// Cumulative counts per bucket, then the sum in milliseconds, then the count.
    durations: Mutex<([u64; BUCKETS_S.len()], u64, u64)>,
}

impl Metrics {
    /// Counts one answered request to `route` (the matched route pattern,
    /// so ids do not make new series) with `status`.
    pub(crate) fn request(&self, route: &str, status: u16) {
        let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *r.entry((route.to_owned(), status)).or_default() += 1;
    }

    /// An evaluation started in this process.
    pub(crate) fn eval_started(&self) {
        self.evals_running.fetch_add(1, Ordering::Relaxed);
    }

    /// An evaluation of this process ended after `took`.
    pub(crate) fn eval_finished(&self, took: Duration) {
        self.evals_running.fetch_sub(1, Ordering::Relaxed);
        let mut d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let s = took.as_secs_f64();
        for (i, le) in BUCKETS_S.iter().enumerate() {
            if s <= *le {
                d.0[i] += 1;
            }
        }
        d.1 += u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        d.2 += 1;
    }

    /// The exposition text, with the job counts `jobs` (status, count).
    pub(crate) fn render(&self, jobs: &[(&str, i64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP w2s_jobs Submissions in the database by status (queued = queue depth)."
        );
        let _ = writeln!(out, "# TYPE w2s_jobs gauge");
        for (status, n) in jobs {
            let _ = writeln!(out, "w2s_jobs{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP w2s_queue_depth Submissions waiting for a worker."
        );
        let _ = writeln!(out, "# TYPE w2s_queue_depth gauge");
        let queued = jobs
            .iter()
            .find(|(s, _)| *s == "queued")
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "w2s_queue_depth {queued}");
        let _ = writeln!(
            out,
            "# HELP w2s_http_requests_total HTTP requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE w2s_http_requests_total counter");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "w2s_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP w2s_evals_running Evaluations running in this process."
        );
        let _ = writeln!(out, "# TYPE w2s_evals_running gauge");
        let _ = writeln!(
            out,
            "w2s_evals_running {}",
            self.evals_running.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP w2s_eval_duration_seconds Wall-clock time of this process's evaluations."
        );
        let _ = writeln!(out, "# TYPE w2s_eval_duration_seconds histogram");
        let d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        for (i, le) in BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                out,
                "w2s_eval_duration_seconds_bucket{{le=\"{le}\"}} {}",
                d.0[i]
            );
        }
        let _ = writeln!(
            out,
            "w2s_eval_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            d.2
        );
        let _ = writeln!(out, "w2s_eval_duration_seconds_sum {}", d.1 as f64 / 1000.0);
        let _ = writeln!(out, "w2s_eval_duration_seconds_count {}", d.2);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.eval_started();
        m.eval_finished(Duration::from_millis(1500));
        let text = m.render(&[("queued", 3)]);
        assert!(
            text.contains("w2s_eval_duration_seconds_bucket{le=\"1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("w2s_eval_duration_seconds_bucket{le=\"2\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("w2s_eval_duration_seconds_bucket{le=\"+Inf\"} 1"),
            "{text}"
        );
        assert!(text.contains("w2s_queue_depth 3"), "{text}");
        assert!(text.contains("w2s_evals_running 0"), "{text}");
    }
}
