//! The interpreter's cost: Python strategies (`plugins/python`, built by
//! `scripts/build-python-plugins.sh`) against their Rust twins, both in the
//! sandbox, on the default task with the same seed and default config.
//!
//! - compiling: one cold compile of each component
//!   (`Sandbox::precompile`, what the `w2s compile` child runs), and the
//!   fastest of a few cache hits (read the artifact, verify its sha256,
//!   deserialize, validate: what `w2s eval` does when the cache has it);
//! - running: fuel (wasm instructions, deterministic) and wall time of a
//!   whole run, fastest of the repeats, interleaved; the students are
//!   compared bit for bit on every repeat.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use w2s_host::{ArtifactCache, Lookup, Outcome, Policy, Sandbox, Strategy};
use w2s_train::Head;

use crate::guest::{DefaultTask, fastest, repo, same_bits};
use crate::tax::SEED;

/// Cache hits timed per component.
const CACHE_HITS: usize = 3;

/// Compile figures of one component.
#[derive(Debug, Clone)]
pub(crate) struct Compile {
    /// The component's file name.
    pub(crate) component: String,
    /// Its size, bytes.
    pub(crate) wasm_bytes: usize,
    /// Its compiled artifact's size, bytes.
    pub(crate) artifact_bytes: usize,
    /// One cold compile, seconds.
    pub(crate) cold_s: f64,
    /// Fastest cache hit (load, verify, deserialize, validate), seconds.
    pub(crate) hit_s: f64,
}

/// Run figures of one Python port and its Rust twin.
#[derive(Debug, Clone)]
pub(crate) struct Twin {
    /// The Rust plugin's name (`vanilla`, `logconf`).
    pub(crate) method: &'static str,
    /// Fuel of the Rust run.
    pub(crate) rust_fuel: u64,
    /// Fuel of the Python run.
    pub(crate) python_fuel: u64,
    /// Fastest wall time of the Rust run, seconds.
    pub(crate) rust_s: f64,
    /// Fastest wall time of the Python run, seconds.
    pub(crate) python_s: f64,
    /// Whether the students were identical bit for bit on every repeat.
    pub(crate) identical: bool,
    /// Timed repeats of each.
    pub(crate) repeats: usize,
}

/// Everything this module measured.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) compile: Vec<Compile>,
    pub(crate) twins: Vec<Twin>,
}

/// A component under `plugins/target/wasm32-wasip2/release`.
fn component(name: &str) -> Result<Vec<u8>> {
    let path = repo().join(format!("plugins/target/wasm32-wasip2/release/{name}.wasm"));
    if !path.exists() {
        bail!(
            "{} is missing: run scripts/build-plugins.sh and scripts/build-python-plugins.sh first",
            path.display()
        );
    }
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Compiles `name` cold into a fresh cache, then loads it from there
/// [`CACHE_HITS`] times; returns the figures and the loaded strategy.
fn compile(sandbox: &Sandbox, cache_dir: &Path, name: &str) -> Result<(Compile, Strategy)> {
    let wasm = component(name)?;
    let cache = ArtifactCache::new(cache_dir);
    let key = ArtifactCache::key(sandbox, &wasm);
    let start = Instant::now();
    let artifact = Sandbox::precompile(&wasm)?;
    let cold_s = start.elapsed().as_secs_f64();
    cache.put(&key, &artifact)?;
    let mut hits = Vec::new();
    let mut strategy = None;
    for _ in 0..CACHE_HITS {
        let start = Instant::now();
        let Lookup::Hit(c) = cache.get(sandbox, &key) else {
            bail!("{name}: the artifact just stored does not load");
        };
        let loaded = sandbox.load_compiled(c, String::new())?;
        hits.push(start.elapsed().as_secs_f64());
        strategy = Some(loaded);
    }
    let figures = Compile {
        component: format!("{name}.wasm"),
        wasm_bytes: wasm.len(),
        artifact_bytes: artifact.len(),
        cold_s,
        hit_s: fastest(&hits),
    };
    eprintln!(
        "python compile {name}: cold {:.2} s, cache hit {:.3} s",
        figures.cold_s, figures.hit_s
    );
    Ok((figures, strategy.expect("CACHE_HITS > 0")))
}

/// One run: the student, its fuel, and its wall time.
fn run(sandbox: &Sandbox, strategy: &Strategy, task: &DefaultTask) -> Result<(Head, u64, f64)> {
    let start = Instant::now();
    let report = sandbox.run(strategy, task.task.clone(), "", SEED, &mut |_| {});
    let seconds = start.elapsed().as_secs_f64();
    match (report.outcome, report.student) {
        (Outcome::Completed, Some(student)) => Ok((student, report.usage.fuel_consumed, seconds)),
        (outcome, _) => bail!("the run ended in {}: {}", outcome.code(), outcome.message()),
    }
}

/// Compiles the Python ports and their Rust twins, then times `repeats`
/// interleaved runs of each pair after one untimed run.
pub(crate) fn measure(task: &DefaultTask, repeats: usize) -> Result<Figures> {
    let sandbox = Sandbox::new(Policy::default())?;
    let cache_dir = tempfile::tempdir()?;
    let (mut compiles, mut twins) = (Vec::new(), Vec::new());
    for method in ["vanilla", "logconf"] {
        let (rust_compile, rust) = compile(&sandbox, cache_dir.path(), method)?;
        let (python_compile, python) =
            compile(&sandbox, cache_dir.path(), &format!("python_{method}"))?;
        compiles.extend([rust_compile, python_compile]);
        let (r, rust_fuel, _) = run(&sandbox, &rust, task)?;
        let (p, python_fuel, _) = run(&sandbox, &python, task)?;
        let mut identical = same_bits(&r, &p)?;
        let (mut rust_s, mut python_s) = (Vec::new(), Vec::new());
        for i in 0..repeats {
            let order = if i % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            let mut heads = Vec::new();
            for is_python in order {
                let (head, _, s) = run(&sandbox, if is_python { &python } else { &rust }, task)?;
                if is_python {
                    &mut python_s
                } else {
                    &mut rust_s
                }
                .push(s);
                heads.push(head);
            }
            identical &= same_bits(&heads[0], &heads[1])?;
        }
        eprintln!("python {method}: rust {rust_s:.3?} s, python {python_s:.3?} s");
        twins.push(Twin {
            method,
            rust_fuel,
            python_fuel,
            rust_s: fastest(&rust_s),
            python_s: fastest(&python_s),
            identical,
            repeats,
        });
    }
    Ok(Figures {
        compile: compiles,
        twins,
    })
}

impl Figures {
    /// One line per figure, for the terminal.
    pub(crate) fn summary(&self) -> String {
        let mut s = String::new();
        for c in &self.compile {
            s += &format!(
                "compile {:22} {:5.1} MB: cold {:.2} s, cache hit {:.3} s\n",
                c.component,
                c.wasm_bytes as f64 / 1e6,
                c.cold_s,
                c.hit_s
            );
        }
        for t in &self.twins {
            s += &format!(
                "python {:8} fuel {:.2}x ({} vs {}), wall {:.2}x ({:.3} s vs {:.3} s), identical students: {}\n",
                t.method,
                t.python_fuel as f64 / t.rust_fuel as f64,
                t.python_fuel,
                t.rust_fuel,
                t.python_s / t.rust_s,
                t.python_s,
                t.rust_s,
                t.identical
            );
        }
        s
    }

    /// The `## Python guests` section of `docs/PERFORMANCE.md`.
    pub(crate) fn markdown(&self) -> String {
        let repeats = self.twins.first().map_or(0, |t| t.repeats);
        let mut s = String::from(
            "## Python guests: the interpreter's cost\n\n\
             A Python strategy (`w2s guest build`, componentize-py) embeds CPython: its \
             component is about 19 MB against about 0.2 MB for a Rust one, which costs \
             once, at compile time (the compiled artifact is cached, so a cache hit \
             costs a read, a sha256 and a deserialize). Each cold compile below is one \
             `Sandbox::precompile` (what the `w2s compile` child runs), the cache hit \
             the fastest of 3 loads from the artifact cache.\n\n\
             | component | wasm (MB) | compiled (MB) | cold compile (s) | cache hit (s) |\n\
             |---|---|---|---|---|\n",
        );
        for c in &self.compile {
            s += &format!(
                "| `{}` | {:.1} | {:.1} | {:.2} | {:.3} |\n",
                c.component,
                c.wasm_bytes as f64 / 1e6,
                c.artifact_bytes as f64 / 1e6,
                c.cold_s,
                c.hit_s
            );
        }
        s += &format!(
            "\nRunning, the interpreter costs wasm instructions (fuel), not host work: the \
             ports make the same host calls as their Rust twins and train the same \
             students bit for bit, so the training primitives' time is the same on \
             both sides. Default config on the default task, seed {SEED}; fuel is \
             deterministic, each wall time the fastest of {repeats} interleaved \
             repeats after one untimed run.\n\n\
             | method | fuel, Rust | fuel, Python | fuel ratio | wall, Rust (s) | wall, Python (s) | wall ratio | students identical |\n\
             |---|---|---|---|---|---|---|---|\n"
        );
        for t in &self.twins {
            s += &format!(
                "| {} | {} | {} | {:.1} | {:.3} | {:.3} | {:.2} | {} |\n",
                t.method,
                t.rust_fuel,
                t.python_fuel,
                t.python_fuel as f64 / t.rust_fuel as f64,
                t.rust_s,
                t.python_s,
                t.python_s / t.rust_s,
                if t.identical { "yes" } else { "**no**" }
            );
        }
        s
    }
}
