//! Compiling an untrusted component in a child process, and the cache of
//! what it produced.
//!
//! wasmtime does not treat compile-time denial of service as its problem
//! (a module can be built to make Cranelift slow or hungry), so `eval` and
//! `run` never compile in their own process. They write the (size-checked)
//! bytes to a private temporary directory and start `w2s compile`, a
//! hidden subcommand of this same executable, which first limits its own
//! address space (`setrlimit(RLIMIT_AS)` to what it has mapped at start-up
//! plus `compile.memory_bytes`), then
//! compiles with the sandbox's engine configuration, on at most
//! [`COMPILE_THREADS`] threads, and writes the serialized artifact. The parent kills it past `compile.timeout_ms`.
//! The artifact goes into the [`ArtifactCache`], and is loaded from there
//! (verified) like any cached one.
//!
//! How the child ended says what happened: exit 0 is an artifact; exit 3 a
//! compile error (its one-line reason on stderr); death by a signal, with
//! an address-space limit in force, is the memory limit (Rust aborts on a
//! failed allocation); anything else is a failure of the compiling process
//! itself.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use rustix::process::{Resource, Rlimit, setrlimit};
use sha2::{Digest, Sha256};
use w2s_host::{ArtifactCache, CacheStatus, HostError, Lookup, Sandbox, Strategy};
use w2s_policy::CompileLimits;

/// Exit status of `w2s compile` when the component does not compile.
const EXIT_COMPILE_ERROR: i32 = 3;
/// How often the parent checks on the child.
const POLL: Duration = Duration::from_millis(10);
/// Most compiling threads: each thread's stack is address space the limit
/// counts, so the pool must not grow with the host's core count.
const COMPILE_THREADS: usize = 4;
/// Longest compile error kept from the child's stderr.
const MAX_REASON_BYTES: usize = 2048;

/// Arguments of the hidden `w2s compile`.
#[derive(Args)]
pub(crate) struct CompileArgs {
    /// The component to compile.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the compiled artifact.
    #[arg(long)]
    output: PathBuf,
    /// Address-space limit of this process, in bytes.
    #[arg(long)]
    memory_bytes: u64,
}

/// Address space this process has mapped already, in bytes (Linux:
/// `/proc/self/statm`; 0 where that cannot be read).
fn mapped_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64
}

/// The child: limit itself, compile, write the artifact. The limit is
/// `memory_bytes` on top of what the process has mapped at start-up (the
/// executable, and the allocator's first arena, which it reserves before
/// `main`): the policy bounds what compiling the component may take.
pub(crate) fn compile(args: CompileArgs) -> Result<ExitCode> {
    let total = mapped_bytes().saturating_add(args.memory_bytes);
    let limit = Rlimit {
        current: Some(total),
        maximum: Some(total),
    };
    setrlimit(Resource::As, limit).context("cannot limit the address space")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores.min(COMPILE_THREADS))
        .build_global()
        .context("cannot start the compiling threads")?;
    let wasm = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    match Sandbox::precompile(&wasm) {
        Ok(artifact) => {
            std::fs::write(&args.output, artifact)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(EXIT_COMPILE_ERROR as u8))
        }
    }
}

fn process_err(what: impl std::fmt::Display) -> HostError {
    HostError::CompileProcess {
        reason: what.to_string(),
    }
}

/// Compiles `wasm` in a `w2s compile` child under `limits`; returns the
/// serialized artifact.
pub(crate) fn compile_in_child(wasm: &[u8], limits: &CompileLimits) -> Result<Vec<u8>, HostError> {
    let dir = tempfile::Builder::new()
        .prefix("w2s-compile-")
        .tempdir()
        .map_err(process_err)?;
    let (input, output, stderr) = (
        dir.path().join("in.wasm"),
        dir.path().join("out.cwasm"),
        dir.path().join("stderr"),
    );
    std::fs::write(&input, wasm).map_err(process_err)?;
    let exe = std::env::current_exe().map_err(process_err)?;
    let mut child = Command::new(exe)
        .arg("compile")
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--memory-bytes")
        .arg(limits.memory_bytes.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).map_err(process_err)?)
        .spawn()
        .map_err(|e| process_err(format!("cannot start `w2s compile`: {e}")))?;
    let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(process_err)? {
            break status;
        }
        if Instant::now() >= deadline {
            // Kill and reap; the child may have exited meanwhile.
            let _ = child.kill();
            let _ = child.wait();
            return Err(HostError::CompileTimeout {
                limit_ms: limits.timeout_ms,
            });
        }
        std::thread::sleep(POLL);
    };
    let said = std::fs::read_to_string(&stderr).unwrap_or_default();
    let said = first_line(&said);
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => std::fs::read(&output).map_err(process_err),
        (Some(EXIT_COMPILE_ERROR), _) => Err(HostError::Compile { reason: said }),
        (None, Some(_)) => Err(HostError::CompileMemory {
            limit_bytes: limits.memory_bytes,
        }),
        _ => Err(process_err(format!(
            "`w2s compile` ended with {status}: {said}"
        ))),
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let mut end = line.len().min(MAX_REASON_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    w2s_host::printable(&line[..end])
}

/// A loaded strategy, and how its compiled code was obtained.
pub(crate) struct Loaded {
    pub(crate) strategy: Strategy,
    pub(crate) cache: CacheStatus,
    pub(crate) compile_ms: u64,
}

/// Loads `wasm` for `sandbox`: preflight checks, the cache (compiling in a
/// child on a miss or a refused artifact), then validation.
pub(crate) fn load(sandbox: &Sandbox, wasm: &[u8], cache_dir: &Path) -> Result<Loaded, HostError> {
    sandbox.preflight(wasm)?;
    let start = Instant::now();
    let cache = ArtifactCache::new(cache_dir);
    let key = ArtifactCache::key(sandbox, wasm);
    let (component, status) = match cache.get(sandbox, &key) {
        Lookup::Hit(c) => (c, CacheStatus::Hit),
        missing => {
            let status = match missing {
                Lookup::Invalid(reason) => CacheStatus::Recompiled { reason },
                _ => CacheStatus::Miss,
            };
            let artifact = compile_in_child(wasm, sandbox.policy().compile())?;
            cache.put(&key, &artifact)?;
            match cache.get(sandbox, &key) {
                Lookup::Hit(c) => (c, status),
                Lookup::Miss => return Err(cache_gone()),
                Lookup::Invalid(reason) => return Err(HostError::Cache { reason }),
            }
        }
    };
    let compile_ms = start.elapsed().as_millis() as u64;
    let strategy = sandbox.load_compiled(component, hex::encode(Sha256::digest(wasm)))?;
    Ok(Loaded {
        strategy,
        cache: status,
        compile_ms,
    })
}

fn cache_gone() -> HostError {
    HostError::Cache {
        reason: "the artifact just written is gone".to_owned(),
    }
}
