//! `w2s:strategy/metrics`: bounded metric logging.

use serde_json::json;

use crate::imports::bindings::w2s::strategy::metrics;
use crate::imports::gate::Deadline;
use crate::limits::MAX_METRIC_NAME_BYTES;
use crate::report::MetricPoint;
use crate::state::HostState;

impl metrics::Host for HostState {
    /// Keeps the point unless its name is longer than 64 bytes or
    /// `max_metric_points` are already kept; a point not kept is counted in
    /// `metrics_dropped`. `log` has no error in WIT, and a bad metric is not
    /// worth ending a run for.
    fn log(&mut self, step: u32, name: String, value: f64) -> wasmtime::Result<()> {
        let name_bytes = name.len();
        let args = || vec![("step", json!(step)), ("name", json!([name_bytes]))];
        self.audited("w2s:strategy/metrics.log", Deadline::Check, args, |s| {
            if name.len() > MAX_METRIC_NAME_BYTES
                || s.metrics.len() >= s.policy.host().max_metric_points as usize
            {
                s.metrics_dropped += 1;
            } else {
                s.metrics.push(MetricPoint { step, name, value });
            }
            Ok(())
        })
    }
}
