//! The store of one run: WASI with nothing granted but the two output
//! pipes (and the scratch directory, when the policy has one),
//! deterministic clocks and randomness, the host state, and every limit of
//! the policy set on it (fuel, epochs, memory, handles, tensor memory).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use bytes::Bytes;
use w2s_train::bundle::PublicTask;
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::audit::AuditLog;
use crate::determinism::{FixedWallClock, SeededRandom, VirtualClock, insecure_seed};
use crate::limits::{MAX_RANDOM_BYTES_PER_CALL, WASI_RESOURCE_HEADROOM, epoch_ticks};
use crate::output::BoundedOutput;
use crate::progress::ProgressSender;
use crate::report::Progress;
use crate::sandbox::Sandbox;
use crate::scratch::ScratchQuota;
use crate::state::{HostState, Meters, StoreLimiter};

/// What one run needs besides the sandbox and the strategy.
pub(crate) struct RunInput<'a> {
    pub(crate) task: Arc<PublicTask>,
    pub(crate) config: &'a str,
    pub(crate) seed: u64,
    pub(crate) start: Instant,
    pub(crate) audit: Option<Box<dyn Write + Send>>,
}

impl Sandbox {
    /// The store for one run: WASI with nothing granted but the two output
    /// pipes (and the scratch directory, when the policy has one),
    /// deterministic clocks and randomness, and every limit set.
    pub(crate) fn store(
        &self,
        input: &mut RunInput<'_>,
        scratch: Option<&tempfile::TempDir>,
        progress: Sender<Progress>,
        stdout: BoundedOutput,
        stderr: BoundedOutput,
    ) -> wasmtime::Result<Store<HostState>> {
        let policy = &self.policy;
        let deadline = input
            .start
            .checked_add(policy.guest().wall_clock())
            .unwrap_or(input.start + Duration::from_secs(86_400));
        let clock = VirtualClock::default();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdin(MemoryInputPipe::new(Bytes::new()))
            .stdout(stdout)
            .stderr(stderr)
            .wall_clock(FixedWallClock)
            .monotonic_clock(clock.clone())
            .secure_random(SeededRandom::new(input.seed, "wasi-random"))
            .insecure_random(SeededRandom::new(input.seed, "wasi-insecure-random"))
            .insecure_random_seed(insecure_seed(input.seed))
            .max_random_size(MAX_RANDOM_BYTES_PER_CALL)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let quota = match (scratch, &policy.filesystem().scratch) {
            (Some(dir), Some(s)) => {
                // File operations run on this thread: no tokio blocking pool.
                wasi.allow_blocking_current_thread(true).preopened_dir(
                    dir.path(),
                    &s.guest_path,
                    FsPerms::ReadWrite,
                )?;
                Some(Arc::new(ScratchQuota::new(s.quota_bytes)))
            }
            _ => None,
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(policy.host().max_handles as usize + WASI_RESOURCE_HEADROOM);
        let audit = input
            .audit
            .take()
            .map(|out| AuditLog::new(out, policy.io().audit_bytes, input.start));
        let state = HostState {
            wasi: wasi.build(),
            table,
            clock,
            limiter: StoreLimiter::new(policy),
            meters: Meters::new(policy, deadline),
            policy: Arc::clone(policy),
            calls: BTreeMap::new(),
            audit,
            live: self.live.clone(),
            scratch: quota,
            task: Arc::clone(&input.task),
            seed: input.seed,
            metrics: Vec::new(),
            metrics_dropped: 0,
            next_student_id: 0,
            progress: ProgressSender::new(progress),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(policy.guest().fuel)?;
        store.set_epoch_deadline(epoch_ticks(policy));
        store.epoch_deadline_trap();
        Ok(store)
    }
}
