//! One run: a fresh store and instance, the call to `run`, and the
//! classification of how it ended.

use std::any::Any;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use bytes::Bytes;
use w2s_train::Head;
use w2s_train::bundle::PublicTask;
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::determinism::{FixedWallClock, SeededRandom, VirtualClock, insecure_seed};
use crate::error::truncate;
use crate::limits::{MAX_GUEST_MESSAGE_BYTES, MAX_RANDOM_BYTES_PER_CALL, RUN_THREAD_STACK, WASI_RESOURCE_HEADROOM};
use crate::outcome::{Outcome, classify_call, classify_typed};
use crate::output::BoundedOutput;
use crate::report::{MetricPoint, Progress, RunReport, Usage};
use crate::sandbox::{Sandbox, Strategy, reason};
use crate::state::{HostState, Meters, StoreLimiter};

/// What the run thread hands back.
struct Finished {
    outcome: Outcome,
    student: Option<Head>,
    metrics: Vec<MetricPoint>,
    metrics_dropped: u64,
    usage: Usage,
}

impl Finished {
    fn failed(outcome: Outcome) -> Self {
        Self { outcome, student: None, metrics: Vec::new(), metrics_dropped: 0, usage: Usage::default() }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    truncate(text, MAX_GUEST_MESSAGE_BYTES)
}

impl Sandbox {
    /// Runs `strategy` once on `task` with `config` and `seed`: a fresh
    /// store and instance, limits as in [`Sandbox::limits`]. `progress` is
    /// called on this thread after every train step (the guest runs on a
    /// thread of its own, with a stack sized for it). Never fails and never
    /// panics on guest behaviour: every ending is an [`Outcome`].
    pub fn run(
        &self,
        strategy: &Strategy,
        task: Arc<PublicTask>,
        config: &str,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> RunReport {
        let start = Instant::now();
        let stdout = BoundedOutput::new(usize::try_from(self.limits.stdout_bytes).unwrap_or(usize::MAX));
        let stderr = BoundedOutput::new(usize::try_from(self.limits.stderr_bytes).unwrap_or(usize::MAX));
        let (sender, receiver) = mpsc::channel();
        let finished = std::thread::scope(|scope| {
            let (out, err) = (stdout.clone(), stderr.clone());
            let worker = std::thread::Builder::new()
                .name("w2s-guest".to_owned())
                .stack_size(RUN_THREAD_STACK)
                .spawn_scoped(scope, move || self.execute(strategy, task, config, seed, start, sender, out, err));
            let worker = match worker {
                Ok(w) => w,
                Err(_) => {
                    let trap = Outcome::Trap { kind: "host-internal".to_owned(), backtrace: "cannot start the run thread".to_owned() };
                    return Finished::failed(trap);
                }
            };
            // Ends when the run thread drops its store (and the sender).
            for event in receiver {
                progress(event);
            }
            worker.join().unwrap_or_else(|payload| {
                // A panic here is a host bug, reported rather than spread.
                Finished::failed(Outcome::Trap { kind: "host-panic".to_owned(), backtrace: panic_text(payload.as_ref()) })
            })
        });
        let mut usage = finished.usage;
        usage.wall_time = start.elapsed();
        RunReport {
            outcome: finished.outcome,
            student: finished.student,
            metrics: finished.metrics,
            metrics_dropped: finished.metrics_dropped,
            stdout: stdout.captured(),
            stderr: stderr.captured(),
            usage,
            wasm_sha256: strategy.wasm_sha256().to_owned(),
            seed,
        }
    }

    /// The store for one run: WASI with nothing granted but the two output
    /// pipes, deterministic clocks and randomness, and every limit set.
    fn store(
        &self,
        task: Arc<PublicTask>,
        seed: u64,
        deadline: Instant,
        progress: Sender<Progress>,
        stdout: BoundedOutput,
        stderr: BoundedOutput,
    ) -> wasmtime::Result<Store<HostState>> {
        let limits = &self.limits;
        let clock = VirtualClock::default();
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(Bytes::new()))
            .stdout(stdout)
            .stderr(stderr)
            .wall_clock(FixedWallClock)
            .monotonic_clock(clock.clone())
            .secure_random(SeededRandom::new(seed, "wasi-random"))
            .insecure_random(SeededRandom::new(seed, "wasi-insecure-random"))
            .insecure_random_seed(insecure_seed(seed))
            .max_random_size(MAX_RANDOM_BYTES_PER_CALL)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_handles as usize + WASI_RESOURCE_HEADROOM);
        let state = HostState {
            wasi,
            table,
            clock,
            limiter: StoreLimiter::new(limits),
            meters: Meters::new(limits, deadline),
            limits: Arc::clone(limits),
            task,
            seed,
            metrics: Vec::new(),
            metrics_dropped: 0,
            next_student_id: 0,
            progress,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel)?;
        store.set_epoch_deadline(limits.epoch_ticks());
        store.epoch_deadline_trap();
        Ok(store)
    }

    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        strategy: &Strategy,
        task: Arc<PublicTask>,
        config: &str,
        seed: u64,
        start: Instant,
        progress: Sender<Progress>,
        stdout: BoundedOutput,
        stderr: BoundedOutput,
    ) -> Finished {
        let deadline = start.checked_add(self.limits.wall_clock).unwrap_or(start + Duration::from_secs(86_400));
        let mut store = match self.store(task, seed, deadline, progress, stdout, stderr) {
            Ok(s) => s,
            Err(e) => return Finished::failed(Outcome::Trap { kind: "host-internal".to_owned(), backtrace: reason(&e) }),
        };
        let (outcome, student) = match strategy.pre.instantiate(&mut store) {
            // Instantiation runs guest code (start functions) and allocates
            // memories: typed limits apply; anything else is the module's
            // fault (too many instances, for example).
            Err(e) => (classify_typed(&e).unwrap_or_else(|| Outcome::InvalidModule { reason: reason(&e) }), None),
            Ok(instance) => match instance.call_run(&mut store, config) {
                Err(e) => (classify_call(&e), None),
                Ok(Err(message)) => (Outcome::GuestError { message: truncate(message, MAX_GUEST_MESSAGE_BYTES) }, None),
                Ok(Ok(student)) => self.accept(store.data_mut().table.delete(student).ok().map(|e| e.into_head())),
            },
        };
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let m = &state.meters;
        let usage = Usage {
            fuel_consumed: self.limits.fuel.saturating_sub(fuel_left),
            flops: m.flops,
            peak_tensor_bytes: m.peak_tensor_bytes,
            peak_handles: m.peak_handles.into(),
            train_steps: m.train_steps,
            host_calls: m.host_calls,
            wall_time: Duration::ZERO,
        };
        Finished {
            outcome,
            student,
            metrics: std::mem::take(&mut state.metrics),
            metrics_dropped: state.metrics_dropped,
            usage,
        }
    }

    /// Checks the student `run` returned.
    fn accept(&self, head: Option<Head>) -> (Outcome, Option<Head>) {
        match head {
            None => (Outcome::Trap { kind: "host-internal".to_owned(), backtrace: "returned student not in the table".to_owned() }, None),
            Some(head) if !self.limits.allows(head.arch()) => {
                let reason = format!("the returned student's architecture {} is not allowed", head.arch().describe());
                (Outcome::InvalidResult { reason }, None)
            }
            Some(head) => (Outcome::Completed, Some(head)),
        }
    }
}
