//! Progress events from the run thread to the caller, throttled.
//!
//! The caller's thread blocks on the channel while the guest runs; every
//! event wakes it. One event per train step (about a thousand a second for
//! the reference recipe) cost a context switch each on a 2-core machine
//! and made up most of the sandbox tax (`w2s-bench --tax-only`; see
//! docs/PERFORMANCE.md). Progress only feeds progress bars, so it is sent
//! at most once per [`MIN_INTERVAL`] (the first event always goes out).
//! Nothing that shapes a result depends on it.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::report::Progress;

/// The least time between two events.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A [`Sender`] of progress events that drops events arriving sooner than
/// [`MIN_INTERVAL`] after the last one sent.
#[derive(Debug)]
pub(crate) struct ProgressSender {
    sender: Sender<Progress>,
    last_sent: Option<Instant>,
}

impl ProgressSender {
    /// Wraps `sender`; the first event is sent whatever the time.
    pub(crate) fn new(sender: Sender<Progress>) -> Self {
        Self {
            sender,
            last_sent: None,
        }
    }

    /// Sends `event` unless one was sent less than [`MIN_INTERVAL`] ago.
    /// A receiver that is gone is ignored: progress is advisory.
    pub(crate) fn report(&mut self, event: Progress) {
        let now = Instant::now();
        if self
            .last_sent
            .is_some_and(|last| now.duration_since(last) < MIN_INTERVAL)
        {
            return;
        }
        self.last_sent = Some(now);
        let _ = self.sender.send(event);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn event(steps: u64) -> Progress {
        Progress {
            steps,
            flops: 0,
            flops_budget: 1,
        }
    }

    #[test]
    fn the_first_event_goes_out_and_a_burst_is_thinned() {
        let (tx, rx) = mpsc::channel();
        let mut p = ProgressSender::new(tx);
        let start = Instant::now();
        for steps in 1..=1000 {
            p.report(event(steps));
        }
        let elapsed = start.elapsed();
        let got: Vec<u64> = rx.try_iter().map(|e| e.steps).collect();
        assert_eq!(got[0], 1);
        // The first, then at most one per interval that passed.
        let allowed = 1 + elapsed.as_millis() / MIN_INTERVAL.as_millis();
        assert!(got.len() as u128 <= allowed, "{} > {allowed}", got.len());
    }

    #[test]
    fn an_event_after_the_interval_goes_out() {
        let (tx, rx) = mpsc::channel();
        let mut p = ProgressSender::new(tx);
        p.report(event(1));
        std::thread::sleep(MIN_INTERVAL + Duration::from_millis(5));
        p.report(event(2));
        let got: Vec<u64> = rx.try_iter().map(|e| e.steps).collect();
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn a_gone_receiver_is_ignored() {
        let (tx, rx) = mpsc::channel();
        drop(rx);
        ProgressSender::new(tx).report(event(1));
    }
}
