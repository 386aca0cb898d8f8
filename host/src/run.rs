//! One run: a thread with a fresh store ([`crate::store`]) and instance,
//! the call to `run`, and the classification of how it ended.

use std::any::Any;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use w2s_train::Head;
use w2s_train::bundle::PublicTask;
use w2s_train::lora::LoraStudent;

use crate::audit::AuditSummary;
use crate::error::truncate;
use crate::imports::student::StudentModel;
use crate::limits::{MAX_GUEST_MESSAGE_BYTES, RUN_THREAD_STACK, allows};
use crate::outcome::{Note, Outcome, classify_call, classify_typed};
use crate::output::{BoundedOutput, CapturedOutput};
use crate::report::{MetricPoint, Progress, RunReport, Usage};
use crate::sandbox::{Sandbox, Strategy, reason};
use crate::store::RunInput;

/// What the run thread hands back.
struct Finished {
    outcome: Outcome,
    student: Option<Head>,
    lora_student: Option<LoraStudent>,
    metrics: Vec<MetricPoint>,
    metrics_dropped: u64,
    usage: Usage,
    audit: AuditSummary,
    audit_error: Option<String>,
}

impl Finished {
    fn failed(outcome: Outcome) -> Self {
        Self {
            outcome,
            student: None,
            lora_student: None,
            metrics: Vec::new(),
            metrics_dropped: 0,
            usage: Usage::default(),
            audit: AuditSummary::default(),
            audit_error: None,
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

fn internal(what: impl Into<String>) -> Outcome {
    Outcome::Trap {
        kind: "host-internal".to_owned(),
        backtrace: what.into(),
    }
}

/// The `output-truncated` notes of a run.
fn notes(stdout: &CapturedOutput, stderr: &CapturedOutput) -> Vec<Note> {
    [("stdout", stdout), ("stderr", stderr)]
        .into_iter()
        .filter(|(_, out)| out.dropped_bytes > 0)
        .map(|(stream, out)| Note::OutputTruncated {
            stream,
            kept_bytes: out.kept_bytes,
            dropped_bytes: out.dropped_bytes,
        })
        .collect()
}

impl Sandbox {
    /// Runs `strategy` once on `task` with `config` and `seed`: a fresh
    /// store and instance, under [`Sandbox::policy`]. `progress` is called
    /// on this thread after every train step (the guest runs on a thread of
    /// its own, with a stack sized for it). Never fails and never panics on
    /// guest behaviour: every ending is an [`Outcome`].
    pub fn run(
        &self,
        strategy: &Strategy,
        task: Arc<PublicTask>,
        config: &str,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> RunReport {
        self.run_inner(strategy, task, config, seed, progress, None)
    }

    /// [`Sandbox::run`], also writing the audit log (see [`crate::audit`]
    /// for its format) to `audit`, at most `io.audit_bytes` of it. The log
    /// is flushed before this returns; a write error is in
    /// [`RunReport::audit_error`].
    pub fn run_audited(
        &self,
        strategy: &Strategy,
        task: Arc<PublicTask>,
        config: &str,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
        audit: Box<dyn Write + Send>,
    ) -> RunReport {
        self.run_inner(strategy, task, config, seed, progress, Some(audit))
    }

    fn run_inner(
        &self,
        strategy: &Strategy,
        task: Arc<PublicTask>,
        config: &str,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
        audit: Option<Box<dyn Write + Send>>,
    ) -> RunReport {
        let start = Instant::now();
        let io = self.policy.io();
        let stdout = BoundedOutput::new(usize::try_from(io.stdout_bytes).unwrap_or(usize::MAX));
        let stderr = BoundedOutput::new(usize::try_from(io.stderr_bytes).unwrap_or(usize::MAX));
        let input = RunInput {
            task,
            config,
            seed,
            start,
            audit,
        };
        let (sender, receiver) = mpsc::channel();
        let finished = std::thread::scope(|scope| {
            let (out, err) = (stdout.clone(), stderr.clone());
            let worker = std::thread::Builder::new()
                .name("w2s-guest".to_owned())
                .stack_size(RUN_THREAD_STACK)
                .spawn_scoped(scope, move || {
                    self.execute(strategy, input, sender, out, err)
                });
            let worker = match worker {
                Ok(w) => w,
                Err(_) => return Finished::failed(internal("cannot start the run thread")),
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
        let (stdout, stderr) = (stdout.captured(), stderr.captured());
        RunReport {
            outcome: finished.outcome,
            student: finished.student,
            lora_student: finished.lora_student,
            metrics: finished.metrics,
            metrics_dropped: finished.metrics_dropped,
            notes: notes(&stdout, &stderr),
            stdout,
            stderr,
            usage,
            audit: finished.audit,
            audit_error: finished.audit_error,
            wasm_sha256: strategy.wasm_sha256().to_owned(),
            seed,
        }
    }

    fn execute(
        &self,
        strategy: &Strategy,
        mut input: RunInput<'_>,
        progress: Sender<Progress>,
        stdout: BoundedOutput,
        stderr: BoundedOutput,
    ) -> Finished {
        // Lives until the store is dropped at the end of this function.
        let scratch = match &self.policy.filesystem().scratch {
            None => None,
            Some(_) => match tempfile::Builder::new().prefix("w2s-scratch-").tempdir() {
                Ok(dir) => Some(dir),
                Err(_) => return Finished::failed(internal("cannot create the scratch directory")),
            },
        };
        let mut store = match self.store(&mut input, scratch.as_ref(), progress, stdout, stderr) {
            Ok(s) => s,
            Err(e) => return Finished::failed(internal(reason(&e))),
        };
        let (outcome, (student, lora_student)) = match strategy.pre.instantiate(&mut store) {
            // Instantiation runs guest code (start functions) and allocates
            // memories: typed limits apply; anything else is the module's
            // fault (too many instances, for example).
            Err(e) => (
                classify_typed(&e).unwrap_or_else(|| Outcome::InvalidModule { reason: reason(&e) }),
                (None, None),
            ),
            Ok(instance) => match instance.call_run(&mut store, input.config) {
                Err(e) => (classify_call(&e), (None, None)),
                Ok(Err(message)) => (
                    Outcome::GuestError {
                        message: truncate(message, MAX_GUEST_MESSAGE_BYTES),
                    },
                    (None, None),
                ),
                Ok(Ok(student)) => {
                    let state = store.data_mut();
                    let entry = state.table.delete(student).ok();
                    if entry.is_some() {
                        state.meters.close_handle();
                    }
                    self.accept(entry.map(|e| e.into_model()))
                }
            },
        };
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let m = &state.meters;
        let usage = Usage {
            fuel_consumed: self.policy.guest().fuel.saturating_sub(fuel_left),
            flops: m.flops,
            peak_tensor_bytes: m.peak_tensor_bytes,
            peak_handles: m.peak_handles.into(),
            live_handles_at_end: m.handles().into(),
            peak_memory_bytes: state.limiter.memory_bytes(),
            scratch_bytes: state.scratch.as_ref().map_or(0, |q| q.used()),
            train_steps: m.train_steps,
            host_calls: m.host_calls,
            wall_time: Duration::ZERO,
        };
        let audit = AuditSummary {
            calls: std::mem::take(&mut state.calls),
            host_calls: usage.host_calls,
            fuel: usage.fuel_consumed,
            flops: usage.flops,
            peak_tensor_bytes: usage.peak_tensor_bytes,
            peak_memory_bytes: usage.peak_memory_bytes,
        };
        let audit_error = state.audit.take().and_then(|log| log.finish(&audit));
        Finished {
            outcome,
            student,
            lora_student,
            metrics: std::mem::take(&mut state.metrics),
            metrics_dropped: state.metrics_dropped,
            usage,
            audit,
            audit_error,
        }
    }

    /// Checks the student `run` returned.
    fn accept(
        &self,
        model: Option<StudentModel>,
    ) -> (Outcome, (Option<Head>, Option<LoraStudent>)) {
        match model {
            None => (internal("returned student not in the table"), (None, None)),
            Some(StudentModel::Head(head)) if !allows(&self.policy, head.arch()) => {
                let reason = format!(
                    "the returned student's architecture {} is not allowed",
                    head.arch().describe()
                );
                (Outcome::InvalidResult { reason }, (None, None))
            }
            Some(StudentModel::Head(head)) => (Outcome::Completed, (Some(head), None)),
            // `create-lora` checked the spec against this policy.
            Some(StudentModel::Lora(l)) => (Outcome::Completed, (None, Some(l))),
        }
    }
}

#[cfg(test)]
mod tests {
    use w2s_train::Arch;

    use super::*;
    use crate::state::test_support::{SharedBuf, tiny_task};
    use w2s_policy::Policy;

    /// The default policy with `extra` TOML appended (sections and keys).
    fn policy(extra: &str) -> Policy {
        Policy::from_toml_str(&format!("version = 1\n{extra}")).unwrap()
    }

    /// A component with the world's `run` export whose core body is
    /// `body`. It imports `student` and `[static]student.create` (core
    /// `$create`: arch discriminant, hidden, seed, return pointer). `run`'s
    /// result goes at address 0; addresses 16..32 are scratch; `$mem`
    /// allocates from 4096 on.
    fn component(body: &str) -> Vec<u8> {
        wat::parse_str(component_wat(body)).unwrap()
    }

    /// The text of [`component`].
    fn component_wat(body: &str) -> String {
        format!(
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
        )
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

    fn run_with(policy: Policy, body: &str) -> RunReport {
        let sandbox = Sandbox::new(policy).unwrap();
        let strategy = sandbox.load(&component(body)).unwrap();
        let mut events = Vec::new();
        let report = sandbox.run(&strategy, tiny_task(8), "cfg", 11, &mut |p| events.push(p));
        assert_eq!(events.len() as u64, report.usage.train_steps);
        assert_eq!(sandbox.live_handles(), 0, "a run left handles alive");
        report
    }

    #[test]
    fn dropped_output_is_a_note_not_a_failure() {
        let cut = CapturedOutput {
            kept: "abc".to_owned(),
            kept_bytes: 3,
            dropped_bytes: 9,
        };
        let notes = notes(&CapturedOutput::default(), &cut);
        assert_eq!(
            notes,
            [Note::OutputTruncated {
                stream: "stderr",
                kept_bytes: 3,
                dropped_bytes: 9
            }]
        );
        assert_eq!(notes[0].code(), "output-truncated");
        assert!(notes[0].message().contains("io.stderr_bytes"));
    }

    #[test]
    fn guest_error_keeps_the_message_as_data() {
        let r = run_with(Policy::default(), RETURN_ERR_NOPE);
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
        let r = run_with(Policy::default(), &create_and_return(1, 16));
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
        let r = run_with(Policy::default(), &create_and_return(1, 5000));
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
        let small = |extra: &str| run_with(policy(extra), &body).outcome;
        assert_eq!(
            small("[host]\ncompute_flops = 10"),
            Outcome::ComputeBudgetExhausted
        );
        assert_eq!(
            small("[host]\ntensor_bytes = 10"),
            Outcome::TensorMemoryLimit
        );
    }

    #[test]
    fn handle_cap_traps() {
        let body = "(loop $l (call $create (i32.const 0) (i32.const 0) (i64.const 7) (i32.const 16)) (br $l)) (i32.const 0)";
        let r = run_with(policy("[host]\nmax_handles = 3"), body);
        assert_eq!(r.outcome, Outcome::HandleLimit);
        assert_eq!(r.usage.peak_handles, 3);
    }

    #[test]
    fn infinite_loop_runs_out_of_fuel() {
        let r = run_with(
            policy("[guest]\nfuel = 100_000"),
            "(loop $l (br $l)) (i32.const 0)",
        );
        assert_eq!(r.outcome, Outcome::FuelExhausted);
        assert_eq!(r.usage.fuel_consumed, 100_000);
    }

    #[test]
    fn infinite_loop_times_out() {
        let limits = policy("[guest]\nfuel = 18_446_744_073_709_551_615\nwall_clock_ms = 100");
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
            Policy::default(),
            "(drop (memory.grow (i32.const 10000))) (i32.const 0)",
        );
        assert_eq!(r.outcome, Outcome::MemoryLimit);
    }

    #[test]
    fn peak_memory_and_live_handles_are_reported() {
        // Two memories of one page each (the component's memory and the
        // $Main module's imported one is the same), grown by 3 pages.
        let r = run_with(
            Policy::default(),
            &format!(
                "(drop (memory.grow (i32.const 3))) {}",
                create_and_return(0, 0)
            ),
        );
        assert_eq!(r.outcome, Outcome::Completed);
        assert_eq!(r.usage.peak_memory_bytes, 4 * 65536);
        assert_eq!(r.usage.live_handles_at_end, 0);
        // Two students created, one returned: one left alive by the guest.
        let body = format!(
            "(call $create (i32.const 0) (i32.const 0) (i64.const 7) (i32.const 16)) {}",
            create_and_return(0, 0)
        );
        let r = run_with(Policy::default(), &body);
        assert_eq!(r.usage.live_handles_at_end, 1);
        assert_eq!(
            r.audit.calls["w2s:strategy/student.[static]student.create"],
            2
        );
        assert_eq!(r.audit.host_calls, 2);
        assert_eq!(r.audit.peak_memory_bytes, r.usage.peak_memory_bytes);
    }

    #[test]
    fn audit_log_has_one_line_per_call_and_a_summary() {
        let sandbox = Sandbox::new(Policy::default()).unwrap();
        let strategy = sandbox.load(&component(&create_and_return(1, 16))).unwrap();
        let out = SharedBuf::default();
        let r = sandbox.run_audited(
            &strategy,
            tiny_task(8),
            "",
            1,
            &mut |_| {},
            Box::new(out.clone()),
        );
        assert_eq!(r.audit_error, None);
        let text = String::from_utf8(out.bytes()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["seq"], 1);
        assert_eq!(
            lines[0]["call"],
            "w2s:strategy/student.[static]student.create"
        );
        assert_eq!(lines[0]["args"]["architecture"], "mlp(16)");
        assert_eq!(lines[0]["result"], "ok");
        assert_eq!(
            lines[0]["tensor_bytes"],
            Arch::Mlp { hidden: 16 }.param_count(4, 3) * 4
        );
        let summary = &lines[1]["summary"];
        assert_eq!(summary["host_calls"], 1);
        assert_eq!(summary["fuel"], r.usage.fuel_consumed);
        assert_eq!(summary["records_written"], 1);
        // The same run without a log has the same summary.
        let plain = sandbox.run(&strategy, tiny_task(8), "", 1, &mut |_| {});
        assert_eq!(plain.audit, r.audit);
    }

    #[test]
    fn too_many_core_instances_is_an_invalid_module() {
        // The test component has two core instances; two more make four.
        let sandbox = Sandbox::new(policy("[guest]\ninstances = 3")).unwrap();
        let wasm = component_wat(RETURN_ERR_NOPE).replace(
            "(core instance $mem (instantiate $Mem))",
            "(core module $E) (core instance (instantiate $E)) (core instance (instantiate $E)) (core instance $mem (instantiate $Mem))",
        );
        let strategy = sandbox.load(&wat::parse_str(wasm).unwrap()).unwrap();
        let r = sandbox.run(&strategy, tiny_task(8), "", 1, &mut |_| {});
        assert_eq!(r.outcome.code(), "invalid-module", "{:?}", r.outcome);
        assert_eq!(r.usage.fuel_consumed, 0);
    }

    #[test]
    fn unreachable_is_a_trap_with_its_kind() {
        let r = run_with(Policy::default(), "unreachable");
        match r.outcome {
            Outcome::Trap { kind, backtrace } => {
                assert_eq!(kind, "unreachable-code-reached");
                assert!(!backtrace.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}
