//! The confinement plan of a job: what the runner may read and write, and
//! its resource limits, all derived from the job and its policy.

use std::path::{Path, PathBuf};

use w2s_confine::Plan;
use w2s_host::ArtifactCache;
use w2s_policy::Policy;
use w2s_train::bundle::{MANIFEST, Manifest};

use crate::error::RunnerError;
use crate::job::Job;

/// Address space wasmtime reserves per linear memory on 64-bit hosts (its
/// default 4 GiB reservation and the guard regions around it); the policy
/// bounds how much of it a guest may use, not the reservation.
const WASM_MEMORY_RESERVATION: u64 = (4 << 30) + (64 << 20);
/// Address space beyond the policy's figures: thread stacks, the
/// allocator's arenas, compiled code, the runtime.
const HEADROOM_BYTES: u64 = 8 << 30;
/// Address space per byte of the files the runner reads: weights stored
/// in 4 bits are dequantized to `f32` (8x), and files are mapped besides.
const FILE_EXPANSION: u64 = 9;
/// Room in the file-size limit beyond the largest file a run writes (the
/// result file with its metrics).
const FILE_HEADROOM_BYTES: u64 = 64 << 20;
/// Worst growth of guest output written as escaped JSON (`\u00XX`).
const JSON_ESCAPE_FACTOR: u64 = 6;

/// The directories where a CUDA device's files live (read and write: the
/// driver's ioctls), and the driver's information (read).
const CUDA_WRITE: [&str; 1] = ["/dev"];
const CUDA_READ: [&str; 2] = ["/proc/driver/nvidia", "/sys"];

fn size_of(path: &Path) -> u64 {
    walk_size(path).unwrap_or(0)
}

fn walk_size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += walk_size(&entry?.path()).unwrap_or(0);
    }
    Ok(total)
}

/// The plan for `job` under `policy`:
///
/// - read: the task's `task.toml` and `public/`, the lm task's model
///   directory, the component's two files in the cache (never the task's
///   `heldout/`, never the evaluator's secret);
/// - read and write: the job's output directory;
/// - address space: a reservation per allowed core instance, twice the
///   tensor-memory limit, [`FILE_EXPANSION`] times the files read, and a
///   fixed headroom;
/// - file size: the largest of a checkpoint, the audit log, the scratch
///   quota and the kept output as JSON, plus a margin.
pub fn plan_for(job: &Job, policy: &Policy) -> Result<Plan, RunnerError> {
    if job.cache_key.len() != 64 || !job.cache_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RunnerError::Job {
            reason: "the cache key is not 64 hex digits".to_owned(),
        });
    }
    let (manifest, _) = Manifest::read(&job.task_dir)?;
    let artifact = ArtifactCache::new(&job.cache_dir).artifact_path(&job.cache_key);
    let mut read = vec![
        job.task_dir.join(MANIFEST),
        job.task_dir.join("public"),
        artifact.with_extension("sha256"),
        artifact,
    ];
    if let Some(lm) = &manifest.lm {
        read.push(PathBuf::from(&lm.path));
    }
    let mut write = vec![job.out_dir.clone()];
    if job.device.is_gpu() {
        read.extend(CUDA_READ.iter().map(PathBuf::from));
        write.extend(CUDA_WRITE.iter().map(PathBuf::from));
    }
    let files: u64 = read.iter().map(PathBuf::as_path).map(size_of).sum();
    let (guest, host, io) = (policy.guest(), policy.host(), policy.io());
    let address_space = u64::from(guest.instances)
        .saturating_mul(WASM_MEMORY_RESERVATION)
        .saturating_add(host.tensor_bytes.saturating_mul(2))
        .saturating_add(files.saturating_mul(FILE_EXPANSION))
        .saturating_add(HEADROOM_BYTES);
    let scratch = policy
        .filesystem()
        .scratch
        .as_ref()
        .map_or(0, |s| s.quota_bytes);
    let output = (io.stdout_bytes + io.stderr_bytes).saturating_mul(JSON_ESCAPE_FACTOR);
    let file_size = [
        host.tensor_bytes.saturating_mul(2),
        io.audit_bytes,
        scratch,
        output,
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
    .saturating_add(FILE_HEADROOM_BYTES);
    Ok(Plan {
        read,
        write,
        address_space_bytes: address_space,
        file_size_bytes: file_size,
        require: job.require_confinement,
    })
}
