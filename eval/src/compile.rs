//! Compiling an untrusted component in a child process, and the cache of
//! what it produced.
//!
//! wasmtime does not treat compile-time denial of service as its problem
//! (a module can be built to make Cranelift slow or hungry), so an
//! evaluation never compiles in its own process. It writes the
//! (size-checked) bytes to a private temporary directory and starts `w2s
//! compile`, a hidden subcommand of the `w2s` executable
//! ([`crate::Executable`]), which runs [`compile_child`]: it first limits
//! its own address space (`setrlimit(RLIMIT_AS)` to what it has mapped at
//! start-up plus `compile.memory_bytes`), then compiles with the sandbox's
//! engine configuration, on at most [`COMPILE_THREADS`] threads, and
//! writes the serialized artifact. The parent kills it past
//! `compile.timeout_ms`. The artifact goes into the [`ArtifactCache`], and
//! is loaded from there (verified) like any cached one.
//!
//! How the child ended says what happened: exit 0 is an artifact; exit
//! [`EXIT_COMPILE_ERROR`] a compile error (its one-line reason on stderr);
//! death by a signal, with an address-space limit in force, is the memory
//! limit (Rust aborts on a failed allocation); anything else is a failure
//! of the compiling process itself.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Resource, Rlimit, setrlimit};
use sha2::{Digest, Sha256};
use w2s_host::{ArtifactCache, CacheStatus, HostError, Lookup, Sandbox, Strategy};
use w2s_policy::CompileLimits;

use crate::error::{EvalError, Result};
use crate::executable::Executable;

/// Exit status of `w2s compile` when the component does not compile.
pub const EXIT_COMPILE_ERROR: u8 = 3;
/// How often the parent checks on the child.
const POLL: Duration = Duration::from_millis(10);
/// Most compiling threads: each thread's stack is address space the limit
/// counts, so the pool must not grow with the host's core count.
pub const COMPILE_THREADS: usize = 4;
/// Longest compile error kept from the child's stderr.
const MAX_REASON_BYTES: usize = 2048;

/// Address space this process has mapped already, in bytes (Linux:
/// `/proc/self/statm`; 0 where that cannot be read).
fn mapped_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64
}

/// The child's side, for `w2s compile`: limit this process, compile the
/// component at `input`, write the artifact to `output`. The limit is
/// `memory_bytes` on top of what the process has mapped at start-up (the
/// executable, and the allocator's first arena, which it reserves before
/// `main`): the policy bounds what compiling the component may take.
///
/// `Ok(Err(reason))` is a component that does not compile: the child
/// prints `reason` on stderr and exits with [`EXIT_COMPILE_ERROR`].
pub fn compile_child(input: &Path, output: &Path, memory_bytes: u64) -> Result<Result<(), String>> {
    let total = mapped_bytes().saturating_add(memory_bytes);
    let limit = Rlimit {
        current: Some(total),
        maximum: Some(total),
    };
    setrlimit(Resource::As, limit).map_err(|e| EvalError::AddressSpace { source: e.into() })?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores.min(COMPILE_THREADS))
        .build_global()
        .map_err(|e| EvalError::CompileThreads {
            reason: e.to_string(),
        })?;
    let wasm = std::fs::read(input).map_err(|source| EvalError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    match Sandbox::precompile(&wasm) {
        Ok(artifact) => {
            std::fs::write(output, artifact).map_err(|source| EvalError::Write {
                path: output.to_path_buf(),
                source,
            })?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

fn process_err(what: impl std::fmt::Display) -> HostError {
    HostError::CompileProcess {
        reason: what.to_string(),
    }
}

/// Compiles `wasm` in a `w2s compile` child under `limits`; returns the
/// serialized artifact.
fn compile_in_child(
    exe: &Executable,
    wasm: &[u8],
    limits: &CompileLimits,
) -> Result<Vec<u8>, HostError> {
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
    let mut child = exe
        .command()
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
        (Some(code), _) if code == i32::from(EXIT_COMPILE_ERROR) => {
            Err(HostError::Compile { reason: said })
        }
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
pub struct Loaded {
    /// The strategy, ready to run.
    pub strategy: Strategy,
    /// Whether the compiled code came from the cache.
    pub cache: CacheStatus,
    /// Wall time of the cache lookup, compiling and loading.
    pub compile_ms: u64,
    /// The cache it was loaded from (the runner loads it from there too).
    pub cache_dir: std::path::PathBuf,
    /// Its key in that cache.
    pub cache_key: String,
}

/// Loads `wasm` for `sandbox`: preflight checks, the cache in `cache_dir`
/// (compiling in a child on a miss or a refused artifact), then
/// validation.
pub fn load(
    exe: &Executable,
    sandbox: &Sandbox,
    wasm: &[u8],
    cache_dir: &Path,
) -> Result<Loaded, HostError> {
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
            let artifact = compile_in_child(exe, wasm, sandbox.policy().compile())?;
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
        cache_dir: cache_dir.to_path_buf(),
        cache_key: key,
    })
}

fn cache_gone() -> HostError {
    HostError::Cache {
        reason: "the artifact just written is gone".to_owned(),
    }
}
