//! Metrics that the report keeps (training curves, diagnostics).

use crate::bindings::w2s::strategy::metrics as wit;

/// Records `value` for metric `name` at `step`. Names are at most 64 bytes;
/// the host keeps a bounded number of points per run, so log per epoch or
/// every few steps rather than on every step of a long run.
pub fn log_metric(step: u32, name: &str, value: f64) {
    wit::log(step, name, value);
}
