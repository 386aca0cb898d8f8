//! Hostile guest behaviours, one per `mode=` of the config string, for the
//! sandbox tests in `tests/all/hostile_plugins.rs`. One crate holds them
//! all to keep build time low. Not a strategy: most modes never return a
//! student.
//!
//! Modes that probe for something the sandbox must deny (files, threads,
//! environment; sockets are in `hostile-net`) end with `Err("denied: ...")` when every attempt
//! failed, and `Err("LEAK: ...")` when one succeeded, so the test can tell
//! the two apart from the outcome alone.

use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use w2s_guest_sdk::{
    Arch, Config, Matrix, Optimizer, Strategy, StrategyError, Student, log_metric, task,
};

mod fs;

/// The guest; the mode picks the behaviour.
struct Hostile;

impl Strategy for Hostile {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let mut c = Config::parse(config)?;
        let mode: String = c.take("mode")?.ok_or("no mode= in the config")?;
        let arg: Option<String> = c.take("arg")?;
        c.finish()?;
        let arg = arg.unwrap_or_default();
        match mode.as_str() {
            "stdout-flood" => flood(&mut std::io::stdout(), &arg),
            "stderr-flood" => flood(&mut std::io::stderr(), &arg),
            "read-file" => probe("read", std::fs::read(&arg).map(|b| b.len())),
            "list-dir" => probe("list", std::fs::read_dir(&arg).map(|d| d.count())),
            "write-file" => probe("write", std::fs::write(&arg, b"escaped").map(|()| 0)),
            "env" => Err(format!(
                "vars={} args={} cwd={}",
                std::env::vars_os().count(),
                std::env::args_os().count(),
                std::env::current_dir().is_ok()
            )
            .into()),
            "clocks" => clocks(),
            "sleep" => {
                let start = Instant::now();
                std::thread::sleep(Duration::from_secs(86_400));
                Err(format!("slept {}s", start.elapsed().as_secs()).into())
            }
            "spawn-thread" => probe(
                "spawn",
                std::thread::Builder::new()
                    .spawn(|| 1)
                    .and_then(|h| h.join().map_err(|_| std::io::Error::other("join"))),
            ),
            "read-stdin" => {
                let mut buf = Vec::new();
                let n = std::io::stdin().read_to_end(&mut buf)?;
                Err(format!("stdin={n}").into())
            }
            "exit" => std::process::exit(3),
            "panic" => panic!("boom: a hostile guest panicked"),
            "alloc-huge" => {
                // 1.5 GiB: under isize::MAX on wasm32, over any memory cap
                // the tests use.
                let mut v: Vec<u8> = Vec::with_capacity(1536 << 20);
                v.push(1);
                std::hint::black_box(&mut v);
                Err(format!("allocated {}", v.capacity()).into())
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => Err(format!("depth {}", recurse(0)).into()),
            "spin" => loop {
                std::hint::black_box(0u64);
            },
            "students-million" => {
                let mut all = Vec::new();
                for i in 0..1_000_000u64 {
                    all.push(Student::create(Arch::Linear, i)?);
                }
                Err(format!("created {}", all.len()).into())
            }
            "train-forever" => train_forever(),
            "nan-student" => nan_student(),
            "read-hidden" => {
                let s = Student::create(Arch::mlp(8), task::seed())?;
                let h = s.hidden(&[0, 1])?;
                Err(format!("read {} hidden values", h.row(0).len() * 2).into())
            }
            "forged-handle" => forged_handle(arg.parse()?),
            "metric-names" => {
                for i in 0..10_000u32 {
                    log_metric(i, &"x".repeat(i as usize % 200), f64::from(i));
                }
                Err("logged".into())
            }
            "scratch-escape" => fs::escape(),
            "scratch-quota" => fs::quota(),
            "scratch-files" => fs::many_files(),
            "scratch-mtime" => fs::mtime(),
            other => Err(format!("unknown mode {other:?}").into()),
        }
    }
}

/// Writes `arg` MiB (64 by default) to `out` in 64 KiB chunks, then
/// returns a linear student: a flood must not fail the run.
fn flood(out: &mut dyn Write, arg: &str) -> Result<Student, StrategyError> {
    let mib: usize = if arg.is_empty() { 64 } else { arg.parse()? };
    let chunk = vec![b'x'; 64 << 10];
    for _ in 0..mib * 16 {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(Student::create(Arch::Linear, task::seed())?)
}

/// `Err("denied: ...")` if `attempt` failed, `Err("LEAK: ...")` if not.
fn probe<T: std::fmt::Debug>(
    what: &str,
    attempt: std::io::Result<T>,
) -> Result<Student, StrategyError> {
    match attempt {
        Ok(v) => Err(format!("LEAK: {what} succeeded: {v:?}").into()),
        Err(e) => Err(format!("denied: {what}: {e}").into()),
    }
}

/// Reads both clocks around real host work: the wall clock must be fixed
/// and the monotonic clock must not see the work.
fn clocks() -> Result<Student, StrategyError> {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let mut student = Student::create(Arch::mlp(256), task::seed())?;
    let opt = Optimizer::adamw(1e-3);
    let batch: Vec<u32> = (0..512).collect();
    let targets = Matrix::one_hot(&vec![0; batch.len()], task::num_classes());
    let weights = vec![1.0; batch.len()];
    let start = Instant::now();
    for _ in 0..20 {
        student.train_step(&opt, &batch, targets.as_slice(), &weights)?;
    }
    let busy = start.elapsed();
    let start = Instant::now();
    let idle = start.elapsed();
    Err(format!(
        "wall={}.{:09} busy_ns={} idle_ns={}",
        wall.as_secs(),
        wall.subsec_nanos(),
        busy.as_nanos(),
        idle.as_nanos()
    )
    .into())
}

/// Recursion without a base case the optimizer can see.
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 16];
    std::hint::black_box(&mut frame);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + frame[3]
}

/// Train steps on one batch, forever.
fn train_forever() -> Result<Student, StrategyError> {
    let mut student = Student::create(Arch::mlp(32), task::seed())?;
    let opt = Optimizer::adamw(1e-3);
    let batch: Vec<u32> = (0..64).collect();
    let targets = Matrix::one_hot(&vec![1; batch.len()], task::num_classes());
    let weights = vec![1.0; batch.len()];
    loop {
        student.train_step(&opt, &batch, targets.as_slice(), &weights)?;
    }
}

/// A student whose weights are NaN or infinite, returned for scoring: one
/// step with finite targets whose row sums overflow `f32` (3e38 in every
/// class) gives an infinite loss and non-finite gradients, which poison it.
fn nan_student() -> Result<Student, StrategyError> {
    let mut student = Student::create(Arch::Linear, task::seed())?;
    let opt = Optimizer::sgd(0.1, 0.0);
    let batch: Vec<u32> = (0..4).collect();
    let targets = vec![3e38f32; 4 * task::num_classes() as usize];
    let loss = student.train_step(&opt, &batch, &targets, &[1.0; 4])?;
    if loss.is_finite() {
        return Err(format!("the loss is {loss}, not infinite or NaN").into());
    }
    Ok(student)
}

/// Uses handle index `index` as a student without ever creating it: a
/// hard-coded handle, as if kept from another run.
#[allow(unsafe_code)]
fn forged_handle(index: u32) -> Result<Student, StrategyError> {
    use w2s_guest_sdk::bindings::w2s::strategy::student::Student as Raw;
    // SAFETY: none; that is the point. The host must refuse the handle.
    let raw = unsafe { Raw::from_handle(index) };
    let dim = raw.hidden_dim();
    Err(format!("LEAK: forged handle {index} works: hidden dim {dim}").into())
}

w2s_guest_sdk::export_strategy!(Hostile);
