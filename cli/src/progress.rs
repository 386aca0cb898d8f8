//! Progress bars on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
pub(crate) fn compute_bar(label: &str, budget_flops: u64) -> ProgressBar {
    let bar =
        ProgressBar::with_draw_target(Some(budget_flops / 1_000_000), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} {spinner} {msg} ({elapsed})")
            .expect("valid template"),
    );
    bar.set_prefix(label.to_owned());
    bar
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
