//! Running a plugin through the sandbox, and the default task it runs on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::Device;
use w2s_host::{Outcome, Policy, Sandbox, Strategy};
use w2s_train::Head;
use w2s_train::bundle::PublicTask;
use w2s_train::synth::{self, SynthConfig};

/// The repository root (this crate lives in `bench/`).
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// The default task (`SynthConfig::default_task(0)`, what `w2s eval` uses
/// without `--task`), generated into a temporary directory and opened.
pub(crate) struct DefaultTask {
    _dir: tempfile::TempDir,
    /// The public view a guest sees.
    pub(crate) task: Arc<PublicTask>,
}

impl DefaultTask {
    pub(crate) fn generate() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("task");
        synth::generate(&SynthConfig::default_task(0), &path)
            .context("generating the default task")?;
        let task = Arc::new(PublicTask::open(&path, &Device::Cpu)?);
        Ok(Self { _dir: dir, task })
    }
}

/// A sandbox under the default policy and one compiled plugin.
pub(crate) struct Loaded {
    pub(crate) sandbox: Sandbox,
    pub(crate) strategy: Strategy,
}

impl Loaded {
    /// Compiles `plugins/target/wasm32-wasip2/release/<name>.wasm` (built
    /// by `scripts/build-plugins.sh`). Compiling is not part of any timing.
    pub(crate) fn plugin(name: &str) -> Result<Self> {
        let path = repo().join(format!("plugins/target/wasm32-wasip2/release/{name}.wasm"));
        if !path.exists() {
            bail!(
                "{} is missing: run scripts/build-plugins.sh first",
                path.display()
            );
        }
        let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let sandbox = Sandbox::new(Policy::default())?;
        let strategy = sandbox
            .load(&wasm)
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(Self { sandbox, strategy })
    }

    /// One run with `config` and `seed`: the student and the wall time of
    /// the whole run (store, instance, the guest's `run`, teardown).
    pub(crate) fn run(&self, task: &DefaultTask, config: &str, seed: u64) -> Result<(Head, f64)> {
        let start = Instant::now();
        let report = self
            .sandbox
            .run(&self.strategy, task.task.clone(), config, seed, &mut |_| {});
        let seconds = start.elapsed().as_secs_f64();
        match (report.outcome, report.student) {
            (Outcome::Completed, Some(student)) => Ok((student, seconds)),
            (outcome, _) => bail!("the run ended in {}: {}", outcome.code(), outcome.message()),
        }
    }
}

/// Whether two heads have the same architecture and parameters, bit for
/// bit.
pub(crate) fn same_bits(a: &Head, b: &Head) -> Result<bool> {
    if a.arch() != b.arch() || a.params().len() != b.params().len() {
        return Ok(false);
    }
    for (p, q) in a.params().iter().zip(b.params()) {
        let p = p.flatten_all()?.to_vec1::<f32>()?;
        let q = q.flatten_all()?.to_vec1::<f32>()?;
        if p.len() != q.len() || p.iter().zip(&q).any(|(x, y)| x.to_bits() != y.to_bits()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The smallest of `values` (infinity for none): on a shared machine the
/// run least disturbed by other processes.
pub(crate) fn fastest(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The median of `values` (the mean of the two middle ones for an even
/// count). Panics on an empty slice.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn fastest_is_the_minimum() {
        assert_eq!(fastest(&[3.0, 1.0, 2.0]), 1.0);
        assert_eq!(fastest(&[]), f64::INFINITY);
    }
}
