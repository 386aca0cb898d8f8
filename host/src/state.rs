//! Per-run host state: the WASI context, the resource table, the meters
//! that enforce the limits wasmtime cannot see, and the store limiter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use w2s_train::bundle::PublicTask;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use w2s_policy::Policy;

use crate::audit::AuditLog;
use crate::determinism::VirtualClock;
use crate::error::{GrowthRefused, HostTrap};
use crate::limits::{MAX_MEMORIES, MAX_TABLES};
use crate::progress::ProgressSender;
use crate::report::{MetricPoint, Progress};
use crate::scratch::ScratchQuota;

/// Counters for the limits enforced inside host functions. Every method
/// that charges checks before anything is spent.
#[derive(Debug)]
pub(crate) struct Meters {
    deadline: Instant,
    pub(crate) flops: u64,
    flops_budget: u64,
    tensor_bytes: u64,
    pub(crate) peak_tensor_bytes: u64,
    tensor_limit: u64,
    handles: u32,
    pub(crate) peak_handles: u32,
    handle_limit: u32,
    pub(crate) train_steps: u64,
    step_limit: u64,
    pub(crate) host_calls: u64,
}

impl Meters {
    pub(crate) fn new(policy: &Policy, deadline: Instant) -> Self {
        let host = policy.host();
        Self {
            deadline,
            flops: 0,
            flops_budget: host.compute_flops,
            tensor_bytes: 0,
            peak_tensor_bytes: 0,
            tensor_limit: host.tensor_bytes,
            handles: 0,
            peak_handles: 0,
            handle_limit: host.max_handles,
            train_steps: 0,
            step_limit: host.max_train_steps,
            host_calls: 0,
        }
    }

    /// Checks the wall-clock deadline: fuel and epochs do not interrupt
    /// time spent inside host functions.
    pub(crate) fn check_deadline(&self) -> Result<(), HostTrap> {
        if Instant::now() >= self.deadline {
            Err(HostTrap::Timeout)
        } else {
            Ok(())
        }
    }

    /// Charges `flops` to the compute budget, or traps without charging.
    pub(crate) fn charge_flops(&mut self, flops: u64) -> Result<(), HostTrap> {
        match self.flops.checked_add(flops) {
            Some(total) if total <= self.flops_budget => {
                self.flops = total;
                Ok(())
            }
            _ => Err(HostTrap::ComputeBudget {
                used: self.flops,
                budget: self.flops_budget,
                requested: flops,
            }),
        }
    }

    /// Reserves `bytes` of tensor memory, or traps without reserving.
    pub(crate) fn alloc_tensor(&mut self, bytes: u64) -> Result<(), HostTrap> {
        match self.tensor_bytes.checked_add(bytes) {
            Some(total) if total <= self.tensor_limit => {
                self.tensor_bytes = total;
                self.peak_tensor_bytes = self.peak_tensor_bytes.max(total);
                Ok(())
            }
            _ => Err(HostTrap::TensorMemory {
                in_use: self.tensor_bytes,
                requested: bytes,
                limit: self.tensor_limit,
            }),
        }
    }

    /// Tensor memory in use, in bytes.
    pub(crate) fn tensor_bytes(&self) -> u64 {
        self.tensor_bytes
    }

    /// Live students and optimizers.
    pub(crate) fn handles(&self) -> u32 {
        self.handles
    }

    /// Checks that one more train step is allowed (before taking it).
    pub(crate) fn check_step(&self) -> Result<(), HostTrap> {
        if self.train_steps >= self.step_limit {
            return Err(HostTrap::StepLimit {
                limit: self.step_limit,
            });
        }
        Ok(())
    }

    /// Releases tensor memory reserved earlier.
    pub(crate) fn free_tensor(&mut self, bytes: u64) {
        self.tensor_bytes = self.tensor_bytes.saturating_sub(bytes);
    }

    /// Opens a student or optimizer handle, or traps.
    pub(crate) fn open_handle(&mut self) -> Result<(), HostTrap> {
        if self.handles >= self.handle_limit {
            return Err(HostTrap::HandleLimit {
                limit: self.handle_limit,
            });
        }
        self.handles += 1;
        self.peak_handles = self.peak_handles.max(self.handles);
        Ok(())
    }

    /// Closes a handle opened earlier.
    pub(crate) fn close_handle(&mut self) {
        self.handles = self.handles.saturating_sub(1);
    }

    /// The progress event for the current counters.
    pub(crate) fn progress(&self) -> Progress {
        Progress {
            steps: self.train_steps,
            flops: self.flops,
            flops_budget: self.flops_budget,
        }
    }
}

/// The store's [`ResourceLimiter`]: caps all linear memories together,
/// each table, and the number of instances, memories and tables. Refusals
/// of growth are typed errors (they trap the guest), so a run that hits the
/// memory cap ends as `memory-limit` rather than as whatever the guest's
/// allocator does with a failed `memory.grow`.
#[derive(Debug)]
pub(crate) struct StoreLimiter {
    memory_limit: u64,
    memory_total: u64,
    /// Growth approved by the last `memory_growing`, undone if it fails.
    last_growth: u64,
    table_limit: u64,
    instances: usize,
}

impl StoreLimiter {
    pub(crate) fn new(policy: &Policy) -> Self {
        let guest = policy.guest();
        Self {
            memory_limit: guest.memory_bytes,
            memory_total: 0,
            last_growth: 0,
            table_limit: guest.table_elements,
            instances: guest.instances as usize,
        }
    }

    /// Bytes of all linear memories together. Memories never shrink, so
    /// this is also the peak.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.memory_total
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.memory_total.saturating_add(growth);
        if total > self.memory_limit {
            self.last_growth = 0;
            return Err(wasmtime::Error::new(GrowthRefused::Memory {
                desired: total,
                limit: self.memory_limit,
            }));
        }
        self.memory_total = total;
        self.last_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_total = self.memory_total.saturating_sub(self.last_growth);
        self.last_growth = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.table_limit {
            return Err(wasmtime::Error::new(GrowthRefused::Table {
                desired,
                limit: self.table_limit,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Counts the students and optimizers alive, across runs of one sandbox:
/// each table entry holds a [`Live`] guard.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveCount(Arc<AtomicU64>);

impl LiveCount {
    /// A guard counted until dropped.
    pub(crate) fn guard(&self) -> Live {
        self.0.fetch_add(1, Ordering::Relaxed);
        Live(Arc::clone(&self.0))
    }

    /// Entries alive now.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One counted entry; see [`LiveCount`].
#[derive(Debug)]
pub(crate) struct Live(Arc<AtomicU64>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything a run's store holds.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) clock: VirtualClock,
    pub(crate) limiter: StoreLimiter,
    pub(crate) meters: Meters,
    pub(crate) policy: Arc<Policy>,
    /// Calls per host function (always counted).
    pub(crate) calls: BTreeMap<&'static str, u64>,
    /// The audit log, when one was asked for.
    pub(crate) audit: Option<AuditLog>,
    /// Counts live students and optimizers for the sandbox.
    pub(crate) live: LiveCount,
    /// The scratch directory's quota, when the policy grants one.
    pub(crate) scratch: Option<Arc<ScratchQuota>>,
    pub(crate) task: Arc<PublicTask>,
    pub(crate) seed: u64,
    pub(crate) metrics: Vec<MetricPoint>,
    pub(crate) metrics_dropped: u64,
    /// The id the next student gets; ids are never reused within a run.
    pub(crate) next_student_id: u64,
    pub(crate) progress: ProgressSender,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Helpers for tests in this crate.
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::mpsc::{self, Receiver};

    use candle_core::{Device, Tensor};
    use w2s_train::bundle::{FormatV1, Manifest, Splits};

    use super::*;

    /// A borrowed handle to what `r` owns, as the guest passes it back.
    pub(crate) fn borrow<T: 'static>(
        r: &wasmtime::component::Resource<T>,
    ) -> wasmtime::component::Resource<T> {
        wasmtime::component::Resource::new_borrow(r.rep())
    }

    /// An in-memory writer whose clones share one buffer: a test keeps a
    /// clone to read what the boxed one was given.
    #[derive(Clone, Default)]
    pub(crate) struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

    impl SharedBuf {
        /// Everything written so far.
        pub(crate) fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().clone()
        }
    }

    impl std::io::Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A task with `pool` examples, 4 features, 3 classes and uniform weak
    /// labels, built in memory.
    pub(crate) fn tiny_task(pool: usize) -> Arc<PublicTask> {
        let (dim, classes) = (4usize, 3usize);
        let features: Vec<f32> = (0..pool * dim).map(|i| (i as f32 * 0.37).sin()).collect();
        Arc::new(PublicTask {
            dir: PathBuf::from("unused"),
            manifest: Manifest {
                format_version: FormatV1,
                name: "tiny".to_owned(),
                classes: classes as u32,
                feature_dim: dim as u32,
                splits: Splits {
                    pool: pool as u32,
                    test: 1,
                },
                files: BTreeMap::new(),
                provenance: BTreeMap::new(),
                lm: None,
            },
            task_hash: "0".repeat(64),
            features: Tensor::from_vec(features, (pool, dim), &Device::Cpu).unwrap(),
            weak_probs: vec![1.0 / 3.0; pool * classes],
            pool_tokens: None,
            backbone: None,
        })
    }

    /// Host state for calling host functions directly, without wasm.
    pub(crate) fn host_state(
        policy: Policy,
        task: Arc<PublicTask>,
    ) -> (HostState, Receiver<Progress>) {
        let (progress, events) = mpsc::channel();
        let deadline = Instant::now() + std::time::Duration::from_secs(600);
        let state = HostState {
            wasi: wasmtime_wasi::WasiCtx::builder().build(),
            table: ResourceTable::new(),
            clock: VirtualClock::default(),
            limiter: StoreLimiter::new(&policy),
            meters: Meters::new(&policy, deadline),
            policy: Arc::new(policy),
            calls: BTreeMap::new(),
            audit: None,
            live: LiveCount::default(),
            scratch: None,
            task,
            seed: 1,
            metrics: Vec::new(),
            metrics_dropped: 0,
            next_student_id: 0,
            progress: ProgressSender::new(progress),
        };
        (state, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn meters() -> Meters {
        let policy = Policy::from_toml_str(
            "version = 1\n[host]\ncompute_flops = 100\ntensor_bytes = 10\nmax_handles = 2\nmax_train_steps = 1\n",
        )
        .unwrap();
        Meters::new(&policy, Instant::now() + Duration::from_secs(60))
    }

    #[test]
    fn steps_are_capped() {
        let mut m = meters();
        m.check_step().unwrap();
        m.train_steps += 1;
        assert_eq!(m.check_step(), Err(HostTrap::StepLimit { limit: 1 }));
    }

    #[test]
    fn charges_are_checked_before_spending() {
        let mut m = meters();
        m.charge_flops(60).unwrap();
        assert_eq!(
            m.charge_flops(41),
            Err(HostTrap::ComputeBudget {
                used: 60,
                budget: 100,
                requested: 41
            })
        );
        assert_eq!(m.flops, 60);
        m.charge_flops(40).unwrap();
        assert!(m.charge_flops(u64::MAX).is_err());
    }

    #[test]
    fn tensor_memory_tracks_the_peak() {
        let mut m = meters();
        m.alloc_tensor(6).unwrap();
        m.free_tensor(6);
        m.alloc_tensor(4).unwrap();
        assert!(matches!(
            m.alloc_tensor(7),
            Err(HostTrap::TensorMemory {
                in_use: 4,
                requested: 7,
                limit: 10
            })
        ));
        assert_eq!(m.peak_tensor_bytes, 6);
    }

    #[test]
    fn handles_are_capped() {
        let mut m = meters();
        m.open_handle().unwrap();
        m.open_handle().unwrap();
        assert_eq!(m.open_handle(), Err(HostTrap::HandleLimit { limit: 2 }));
        m.close_handle();
        m.open_handle().unwrap();
        assert_eq!(m.peak_handles, 2);
    }

    #[test]
    fn deadline_in_the_past_times_out() {
        let m = Meters::new(&Policy::default(), Instant::now());
        assert_eq!(m.check_deadline(), Err(HostTrap::Timeout));
    }

    #[test]
    fn limiter_caps_total_memory_with_a_typed_error() {
        let policy =
            Policy::from_toml_str("version = 1\n[guest]\nmemory_bytes = 2097152\n").unwrap();
        let mut l = StoreLimiter::new(&policy);
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        let err = l
            .memory_growing(1 << 20, (2 << 20) + 65536, None)
            .unwrap_err();
        assert!(matches!(
            err.downcast_ref::<GrowthRefused>(),
            Some(GrowthRefused::Memory { .. })
        ));
        l.memory_grow_failed(wasmtime::Error::msg("x")).unwrap();
        assert_eq!(l.memory_bytes(), 1 << 20);
        assert!(l.memory_growing(1 << 20, 2 << 20, None).unwrap());
    }
}
