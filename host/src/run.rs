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
use crate::limits::{
    MAX_GUEST_MESSAGE_BYTES, MAX_RANDOM_BYTES_PER_CALL, RUN_THREAD_STACK, WASI_RESOURCE_HEADROOM,
};
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
        Self {
            outcome,
            student: None,
            metrics: Vec::new(),
            metrics_dropped: 0,
            usage: Usage::default(),
        }
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
        let stdout =
            BoundedOutput::new(usize::try_from(self.limits.stdout_bytes).unwrap_or(usize::MAX));
        let stderr =
            BoundedOutput::new(usize::try_from(self.limits.stderr_bytes).unwrap_or(usize::MAX));
        let (sender, receiver) = mpsc::channel();
        let finished = std::thread::scope(|scope| {
            let (out, err) = (stdout.clone(), stderr.clone());
            let worker = std::thread::Builder::new()
                .name("w2s-guest".to_owned())
                .stack_size(RUN_THREAD_STACK)
                .spawn_scoped(scope, move || {
                    self.execute(strategy, task, config, seed, start, sender, out, err)
                });
            let worker = match worker {
                Ok(w) => w,
                Err(_) => {
                    let trap = Outcome::Trap {
                        kind: "host-internal".to_owned(),
                        backtrace: "cannot start the run thread".to_owned(),
                    };
                    return Finished::failed(trap);
                }
            };
            // Ends when the run thread drops its store (and the sender).
            for event in receiver {
                progress(event);
            }
            worker.join().unwrap_or_else(|payload| {
                // A panic here is a host bug, reported rather than spread.
                Finished::failed(Outcome::Trap {
                    kind: "host-panic".to_owned(),
                    backtrace: panic_text(payload.as_ref()),
                })
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
        let deadline = start
            .checked_add(self.limits.wall_clock)
            .unwrap_or(start + Duration::from_secs(86_400));
        let mut store = match self.store(task, seed, deadline, progress, stdout, stderr) {
            Ok(s) => s,
            Err(e) => {
                return Finished::failed(Outcome::Trap {
                    kind: "host-internal".to_owned(),
                    backtrace: reason(&e),
                });
            }
        };
        let (outcome, student) = match strategy.pre.instantiate(&mut store) {
            // Instantiation runs guest code (start functions) and allocates
            // memories: typed limits apply; anything else is the module's
            // fault (too many instances, for example).
            Err(e) => (
                classify_typed(&e).unwrap_or_else(|| Outcome::InvalidModule { reason: reason(&e) }),
                None,
            ),
            Ok(instance) => match instance.call_run(&mut store, config) {
                Err(e) => (classify_call(&e), None),
                Ok(Err(message)) => (
                    Outcome::GuestError {
                        message: truncate(message, MAX_GUEST_MESSAGE_BYTES),
                    },
                    None,
                ),
                Ok(Ok(student)) => self.accept(
                    store
                        .data_mut()
                        .table
                        .delete(student)
                        .ok()
                        .map(|e| e.into_head()),
                ),
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
            None => (
                Outcome::Trap {
                    kind: "host-internal".to_owned(),
                    backtrace: "returned student not in the table".to_owned(),
                },
                None,
            ),
            Some(head) if !self.limits.allows(head.arch()) => {
                let reason = format!(
                    "the returned student's architecture {} is not allowed",
                    head.arch().describe()
                );
                (Outcome::InvalidResult { reason }, None)
            }
            Some(head) => (Outcome::Completed, Some(head)),
        }
    }
}

#[cfg(test)]
mod tests {
    use w2s_train::Arch;

    use super::*;
    use crate::limits::Limits;
    use crate::state::test_support::tiny_task;

    /// A component with the world's `run` export whose core body is
    /// `body`. It imports `student` and `[static]student.create` (core
    /// `$create`: arch discriminant, hidden, seed, return pointer). `run`'s
    /// result goes at address 0; addresses 16..32 are scratch; `$mem`
    /// allocates from 4096 on.
    fn component(body: &str) -> Vec<u8> {
        let wat = format!(
            r#"(component
  (import "w2s:strategy/student@0.1.0" (instance $student
    (export "student" (type $st (sub resource)))
    (type $mlp0 (record (field "hidden" u32)))
    (export "mlp" (type $mlp (eq $mlp0)))
    (type $arch0 (variant (case "linear") (case "mlp" $mlp)))
    (export "arch" (type $arch (eq $arch0)))
    (type $code0 (enum "invalid-argument" "not-allowed" "wrong-handle"))
    (export "error-code" (type $code (eq $code0)))
    (type $err0 (record (field "code" $code) (field "message" string)))
    (export "error" (type $err (eq $err0)))
    (export "[static]student.create"
      (func (param "architecture" $arch) (param "seed" u64) (result (result (own $st) (error $err)))))))
  (alias export $student "student" (type $st))
  (alias export $student "[static]student.create" (func $create))
  (core module $Mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $bump))
      (global.set $bump (i32.and (i32.add (i32.add (global.get $bump) (local.get 3)) (i32.const 7)) (i32.const -8)))
      (local.get $p)))
  (core instance $mem (instantiate $Mem))
  (core func $create_low (canon lower (func $create) (memory (core memory $mem "memory")) (realloc (core func $mem "realloc"))))
  (core module $Main
    (import "mem" "memory" (memory 1))
    (import "host" "create" (func $create (param i32 i32 i64 i32)))
    (data (i32.const 100) "nope")
    (func (export "run") (param i32 i32) (result i32)
      {body}))
  (core instance $main (instantiate $Main
    (with "mem" (instance $mem))
    (with "host" (instance (export "create" (func $create_low))))))
  (func (export "run") (param "config" string) (result (result (own $st) (error string)))
    (canon lift (core func $main "run") (memory (core memory $mem "memory")) (realloc (core func $mem "realloc")))))"#
        );
        wat::parse_str(wat).unwrap()
    }

    /// `run` body: create a student (`disc` 0 linear, 1 mlp), return it or
    /// the host's error message.
    fn create_and_return(disc: u32, hidden: u32) -> String {
        format!(
            "(call $create (i32.const {disc}) (i32.const {hidden}) (i64.const 7) (i32.const 16))
             (if (i32.eqz (i32.load8_u (i32.const 16)))
               (then (i32.store8 (i32.const 0) (i32.const 0))
                     (i32.store (i32.const 4) (i32.load (i32.const 20))))
               (else (i32.store8 (i32.const 0) (i32.const 1))
                     (i32.store (i32.const 4) (i32.load (i32.const 24)))
                     (i32.store (i32.const 8) (i32.load (i32.const 28)))))
             (i32.const 0)"
        )
    }

    const RETURN_ERR_NOPE: &str = "(i32.store8 (i32.const 0) (i32.const 1))
        (i32.store (i32.const 4) (i32.const 100)) (i32.store (i32.const 8) (i32.const 4)) (i32.const 0)";

    fn run_with(limits: Limits, body: &str) -> RunReport {
        let sandbox = Sandbox::new(limits).unwrap();
        let strategy = sandbox.load(&component(body)).unwrap();
        let mut events = Vec::new();
        let report = sandbox.run(&strategy, tiny_task(8), "cfg", 11, &mut |p| events.push(p));
        assert_eq!(events.len() as u64, report.usage.train_steps);
        report
    }

    #[test]
    fn guest_error_keeps_the_message_as_data() {
        let r = run_with(Limits::default(), RETURN_ERR_NOPE);
        assert_eq!(
            r.outcome,
            Outcome::GuestError {
                message: "nope".to_owned()
            }
        );
        assert!(r.student.is_none());
        assert_eq!(r.seed, 11);
        assert_eq!(r.wasm_sha256.len(), 64);
        assert!(r.usage.fuel_consumed > 0);
    }

    #[test]
    fn returned_student_completes_the_run() {
        let r = run_with(Limits::default(), &create_and_return(1, 16));
        assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
        let head = r.student.unwrap();
        assert_eq!(head.arch(), Arch::Mlp { hidden: 16 });
        assert_eq!(r.usage.host_calls, 1);
        assert_eq!(r.usage.peak_handles, 1);
        assert_eq!(r.usage.peak_tensor_bytes, head.param_bytes());
        assert_eq!(r.usage.flops, Arch::Mlp { hidden: 16 }.param_count(4, 3));
    }

    #[test]
    fn disallowed_architecture_is_an_error_for_the_guest() {
        let r = run_with(Limits::default(), &create_and_return(1, 5000));
        match r.outcome {
            Outcome::GuestError { message } => {
                assert!(message.contains("not allowed"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_end_the_run_with_typed_outcomes() {
        let body = create_and_return(0, 0);
        let small = |f: fn(&mut Limits)| {
            let mut l = Limits::default();
            f(&mut l);
            run_with(l, &body).outcome
        };
        assert_eq!(
            small(|l| l.compute_flops = 10),
            Outcome::ComputeBudgetExhausted
        );
        assert_eq!(small(|l| l.tensor_bytes = 10), Outcome::TensorMemoryLimit);
    }

    #[test]
    fn handle_cap_traps() {
        let body = "(loop $l (call $create (i32.const 0) (i32.const 0) (i64.const 7) (i32.const 16)) (br $l)) (i32.const 0)";
        let r = run_with(
            Limits {
                max_handles: 3,
                ..Limits::default()
            },
            body,
        );
        assert_eq!(r.outcome, Outcome::HandleLimit);
        assert_eq!(r.usage.peak_handles, 3);
    }

    #[test]
    fn infinite_loop_runs_out_of_fuel() {
        let r = run_with(
            Limits {
                fuel: 100_000,
                ..Limits::default()
            },
            "(loop $l (br $l)) (i32.const 0)",
        );
        assert_eq!(r.outcome, Outcome::FuelExhausted);
        assert_eq!(r.usage.fuel_consumed, 100_000);
    }

    #[test]
    fn infinite_loop_times_out() {
        let limits = Limits {
            fuel: u64::MAX,
            wall_clock: Duration::from_millis(100),
            ..Limits::default()
        };
        let r = run_with(limits, "(loop $l (br $l)) (i32.const 0)");
        assert_eq!(r.outcome, Outcome::Timeout);
        assert!(
            r.usage.wall_time < Duration::from_secs(5),
            "{:?}",
            r.usage.wall_time
        );
    }

    #[test]
    fn memory_growth_past_the_cap_is_memory_limit() {
        let r = run_with(
            Limits::default(),
            "(drop (memory.grow (i32.const 10000))) (i32.const 0)",
        );
        assert_eq!(r.outcome, Outcome::MemoryLimit);
    }

    #[test]
    fn too_many_core_instances_is_an_invalid_module() {
        // The test component has two core instances.
        let r = run_with(
            Limits {
                instances: 1,
                ..Limits::default()
            },
            RETURN_ERR_NOPE,
        );
        assert_eq!(r.outcome.code(), "invalid-module", "{:?}", r.outcome);
        assert_eq!(r.usage.fuel_consumed, 0);
    }

    #[test]
    fn unreachable_is_a_trap_with_its_kind() {
        let r = run_with(Limits::default(), "unreachable");
        match r.outcome {
            Outcome::Trap { kind, backtrace } => {
                assert_eq!(kind, "unreachable-code-reached");
                assert!(!backtrace.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}
