//! Training throughput of the native primitives (`w2s_train::Head`'s fused
//! train step with AdamW) against PyTorch on the same shapes and thread
//! count (`bench/torch_throughput.py`).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use w2s_train::recipe::one_hot;
use w2s_train::rng::Rng;
use w2s_train::{Arch, Head, Optimizer, OptimizerConfig};

use crate::guest::repo;

/// The shapes of the throughput benchmark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shapes {
    /// Training examples.
    pub(crate) n: usize,
    /// Feature width.
    pub(crate) d: usize,
    /// Classes.
    pub(crate) classes: usize,
    /// MLP hidden width.
    pub(crate) hidden: usize,
    /// Examples per step.
    pub(crate) batch: usize,
    /// Timed epochs (after one untimed); the fastest counts.
    pub(crate) epochs: usize,
}

impl Shapes {
    /// N = 20000, d = 1024, 4 classes, MLP hidden 128, batch 256, 5 timed
    /// epochs.
    pub(crate) const STANDARD: Self = Self {
        n: 20_000,
        d: 1024,
        classes: 4,
        hidden: 128,
        batch: 256,
        epochs: 5,
    };
}

/// One head's figures.
#[derive(Debug, Clone)]
pub(crate) struct Throughput {
    /// `linear` or `mlp`.
    pub(crate) head: &'static str,
    /// Training examples per second, w2s-train.
    pub(crate) rust_eps: f64,
    /// Training examples per second, PyTorch (when it ran).
    pub(crate) torch_eps: Option<f64>,
}

/// What PyTorch reported, or why it did not run.
#[derive(Debug, Clone)]
pub(crate) enum Torch {
    /// `torch.__version__` and examples per second per head.
    Ran {
        version: String,
        linear: f64,
        mlp: f64,
    },
    /// Why there is no figure.
    Missing(String),
}

/// Examples per second of `arch` in w2s-train on `dev`: per step, one
/// fused `train_step_rows` on the batch's rows of the feature matrix
/// (forward, soft cross-entropy, backward, AdamW update), with targets and
/// weights as host values, as the host's `train-step` makes it. One untimed
/// epoch, then the fastest of `s.epochs` timed epochs (the least disturbed
/// by other processes on a shared machine).
pub(crate) fn rust(arch: Arch, s: Shapes, dev: &Device) -> Result<f64> {
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..s.n * s.d).map(|_| rng.normal() as f32).collect();
    let labels: Vec<u32> = (0..s.n)
        .map(|_| rng.below(s.classes as u64) as u32)
        .collect();
    let features = Tensor::from_vec(x, (s.n, s.d), dev)?;
    let targets = one_hot(&labels, s.classes);
    let mut head = Head::init(arch, s.d, s.classes, 1, dev)?;
    let mut opt = Optimizer::new(OptimizerConfig::adamw(1e-3))?;
    let mut epoch = |rng: &mut Rng| -> Result<()> {
        let order = rng.permutation(s.n);
        for batch in order.chunks(s.batch) {
            let t: Vec<f32> = batch
                .iter()
                .flat_map(|&i| {
                    targets[i as usize * s.classes..][..s.classes]
                        .iter()
                        .copied()
                })
                .collect();
            let w = vec![1.0f32; batch.len()];
            head.train_step_rows(&mut opt, &features, batch, &t, &w)?;
        }
        // A GPU runs asynchronously: wait for the epoch's work.
        dev.synchronize()?;
        Ok(())
    };
    epoch(&mut rng)?;
    let mut fastest = f64::INFINITY;
    for _ in 0..s.epochs {
        let start = Instant::now();
        epoch(&mut rng)?;
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    Ok(s.n as f64 / fastest)
}

/// Runs `bench/torch_throughput.py` with the same shapes and `threads`, on
/// the CPU.
fn torch(s: Shapes, threads: usize) -> Torch {
    torch_on(s, threads, "cpu")
}

/// [`torch`] on `device` (`cpu` or `cuda`; on CUDA, `threads` only sizes
/// PyTorch's host-side pool).
pub(crate) fn torch_on(s: Shapes, threads: usize, device: &str) -> Torch {
    let probe = Command::new("python3")
        .args(["-c", "import torch"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(_) => return Torch::Missing("`python3 -c 'import torch'` failed".to_owned()),
        Err(e) => return Torch::Missing(format!("python3 did not start: {e}")),
    }
    match run_torch(s, threads, device) {
        Ok(t) => t,
        Err(e) => Torch::Missing(format!("bench/torch_throughput.py failed: {e:#}")),
    }
}

fn run_torch(s: Shapes, threads: usize, device: &str) -> Result<Torch> {
    let script = repo().join("bench/torch_throughput.py");
    let arg = |v: usize| v.to_string();
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "--n",
            &arg(s.n),
            "--d",
            &arg(s.d),
            "--classes",
            &arg(s.classes),
        ])
        .args(["--hidden", &arg(s.hidden), "--batch", &arg(s.batch)])
        .args(["--epochs", &arg(s.epochs), "--threads", &arg(threads)])
        .args(["--device", device])
        .output()
        .context("starting python3")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing the script's JSON")?;
    let num = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("no number `{k}` in the script's JSON"))
    };
    Ok(Torch::Ran {
        version: v["torch_version"].as_str().unwrap_or("?").to_owned(),
        linear: num("linear_examples_per_s")?,
        mlp: num("mlp_examples_per_s")?,
    })
}

/// Both heads in w2s-train, in this process (its thread count comes from
/// `RAYON_NUM_THREADS`, else the cores): examples per second, linear then
/// MLP. What a child started by [`measure`] prints, as JSON.
pub(crate) fn rust_both(s: Shapes) -> Result<[f64; 2]> {
    let dev = Device::Cpu;
    let linear = rust(Arch::Linear, s, &dev)?;
    let mlp = rust(
        Arch::Mlp {
            hidden: s.hidden as u32,
        },
        s,
        &dev,
    )?;
    Ok([linear, mlp])
}

/// Runs [`rust_both`] in a child process (this binary, `--throughput-child`)
/// with `RAYON_NUM_THREADS=threads`: candle sizes its kernels' and rayon's
/// thread pools from it, and the global pool is fixed once built.
fn rust_child(threads: usize) -> Result<[f64; 2]> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--throughput-child")
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .context("starting the throughput child")?;
    if !out.status.success() {
        bail!(
            "the throughput child failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let num = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("no `{k}` from the child"))
    };
    Ok([num("linear")?, num("mlp")?])
}

/// Both heads in w2s-train, then PyTorch, at each thread count of
/// `thread_counts` (each side in a process of its own).
pub(crate) fn measure(
    s: Shapes,
    thread_counts: &[usize],
) -> Result<Vec<(usize, Vec<Throughput>, Torch)>> {
    let mut out = Vec::new();
    for &threads in thread_counts {
        let [linear, mlp] = rust_child(threads)?;
        eprintln!(
            "throughput, {threads} thread(s): linear {linear:.0}, mlp {mlp:.0} examples/s (w2s-train)"
        );
        let torch = torch(s, threads);
        eprintln!("torch, {threads} thread(s): {torch:?}");
        let (tl, tm) = match &torch {
            Torch::Ran { linear, mlp, .. } => (Some(*linear), Some(*mlp)),
            Torch::Missing(_) => (None, None),
        };
        out.push((
            threads,
            vec![
                Throughput {
                    head: "linear",
                    rust_eps: linear,
                    torch_eps: tl,
                },
                Throughput {
                    head: "mlp",
                    rust_eps: mlp,
                    torch_eps: tm,
                },
            ],
            torch,
        ));
    }
    Ok(out)
}
