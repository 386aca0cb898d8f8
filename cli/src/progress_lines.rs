//! Feature-extraction progress as plain lines, for a stderr that is not a
//! terminal (a log file, a pipe), where a progress bar hides itself: a line
//! at most every `interval`, and one when a model finishes, so a logged
//! build is never silent.

use std::io::Write;
use std::time::{Duration, Instant};

use w2s_lm::extract::Progress;

/// Prints a line per model at most every `interval` (and at its end).
pub(crate) struct ProgressLines<W: Write> {
    out: W,
    interval: Duration,
    model: Option<(String, Instant)>,
    last_line: Option<Instant>,
}

impl<W: Write> ProgressLines<W> {
    /// Lines to `out`, at most one per `interval` and model.
    pub(crate) fn new(out: W, interval: Duration) -> Self {
        Self {
            out,
            interval,
            model: None,
            last_line: None,
        }
    }

    /// Records `p` for `model`; prints a line when the interval has passed
    /// since the last one or the model is done.
    pub(crate) fn update(&mut self, model: &str, p: &Progress) {
        let now = Instant::now();
        if self.model.as_ref().is_none_or(|(m, _)| m != model) {
            self.model = Some((model.to_owned(), now));
            self.last_line = Some(now);
        }
        let done = p.texts_done >= p.texts_total;
        let due = self
            .last_line
            .is_none_or(|t| now.duration_since(t) >= self.interval);
        if !(done || due) {
            return;
        }
        self.last_line = Some(now);
        let started = self.model.as_ref().map_or(now, |(_, t)| *t);
        let line = line(model, p, now.duration_since(started));
        // Progress is best effort: a closed stderr must not stop a build.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}

/// One progress line: rows, tokens, tokens per second and the time left.
fn line(model: &str, p: &Progress, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        p.tokens_done as f64 / secs
    } else {
        0.0
    };
    let left = p.tokens_total.saturating_sub(p.tokens_done);
    let eta = if left == 0 {
        "done".to_owned()
    } else if rate > 0.0 {
        format!("ETA {}", clock(left as f64 / rate))
    } else {
        "ETA unknown".to_owned()
    };
    format!(
        "{model}: {}/{} rows, {}/{} tokens, {rate:.0} tokens/s, {} elapsed, {eta}",
        p.texts_done,
        p.texts_total,
        p.tokens_done,
        p.tokens_total,
        clock(secs)
    )
}

/// `h:mm:ss`, or `m:ss` under an hour.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(texts_done: usize, tokens_done: usize) -> Progress {
        Progress {
            texts_done,
            texts_total: 10,
            tokens_done,
            tokens_total: 100,
        }
    }

    #[test]
    fn a_long_interval_prints_only_each_models_last_line() {
        let mut buf = Vec::new();
        let mut lines = ProgressLines::new(&mut buf, Duration::from_secs(3600));
        for i in 1..=10 {
            lines.update("strong", &progress(i, i * 10));
        }
        lines.update("weak", &progress(5, 50));
        lines.update("weak", &progress(10, 100));
        let text = String::from_utf8(buf).unwrap();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 2, "{text}");
        assert!(
            got[0].starts_with("strong: 10/10 rows, 100/100 tokens,"),
            "{text}"
        );
        assert!(got[0].ends_with("done"), "{text}");
        assert!(got[1].starts_with("weak: 10/10 rows"), "{text}");
    }

    #[test]
    fn a_zero_interval_prints_every_update() {
        let mut buf = Vec::new();
        let mut lines = ProgressLines::new(&mut buf, Duration::ZERO);
        for i in 1..=3 {
            lines.update("strong", &progress(i, i * 10));
        }
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("1/10 rows, 10/100 tokens"), "{text}");
        assert!(text.contains("tokens/s"), "{text}");
    }

    #[test]
    fn clock_reads_minutes_and_hours() {
        assert_eq!(clock(59.4), "0:59");
        assert_eq!(clock(61.0), "1:01");
        assert_eq!(clock(3723.0), "1:02:03");
    }

    #[test]
    fn the_time_left_follows_the_rate() {
        let l = line("weak", &progress(5, 50), Duration::from_secs(10));
        assert!(l.contains("5 tokens/s"), "{l}");
        assert!(l.ends_with("ETA 0:10"), "{l}");
    }
}
