//! Progress bars on stderr (hidden when stderr is not a terminal), and the
//! evaluation's progress drawn with them.

use std::cell::RefCell;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use w2s_eval::ProgressSink;

/// A bar over a known number of training steps.
pub(crate) fn steps_bar(label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} steps ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// A bar over the run's compute budget, in GFLOP (a guest's number of steps
/// is not known in advance; its budget is).
fn compute_bar(label: &str, budget_flops: u64) -> ProgressBar {
    let bar =
        ProgressBar::with_draw_target(Some(budget_flops / 1_000_000), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} {spinner} {msg} ({elapsed})")
            .expect("valid template"),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// An evaluation's progress on stderr: a bar per sandboxed run, a line per
/// note.
#[derive(Default)]
pub(crate) struct Bars {
    run: RefCell<Option<ProgressBar>>,
}

impl ProgressSink for Bars {
    fn run_started(&self, label: &str, budget_flops: u64) {
        *self.run.borrow_mut() = Some(compute_bar(label, budget_flops));
    }

    fn run_progress(&self, _label: &str, progress: &w2s_host::Progress) {
        if let Some(bar) = &*self.run.borrow() {
            bar.set_message(format!(
                "{} steps, {:.2} GFLOP",
                progress.steps,
                progress.flops as f64 / 1e9
            ));
            bar.tick();
        }
    }

    fn run_finished(&self, _label: &str) {
        if let Some(bar) = self.run.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }

    fn note(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// A bar over the tokens of a feature extraction, with its ETA.
pub(crate) fn tokens_bar(label: &str, tokens: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(tokens), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} tokens, {msg} ({elapsed}, {eta} left)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}
