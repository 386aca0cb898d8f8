//! Hostile guests written in Rust: `plugins/hostile-guest` (one behaviour
//! per `mode=`) and `plugins/hostile-net` (sockets), run from a table.
//! Each case is a header in the WAT fixtures' format (see
//! `tests/fixtures/hostile/README.md`) and goes through the same checks:
//! the exact outcome, the assertions, no host fault, the same sandbox runs
//! it again, and a normal run afterwards matches a fresh process.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;
use w2s_host::Sandbox;

use crate::helpers::{
    assert_each_passes, default_task, eval_report, plugin, read_json, run_on_default_task,
};
use crate::hostile::{Header, check_case, default_sandbox};

/// A check of the host's side after a run.
type AfterCheck = fn() -> Result<(), String>;

/// One case: a name, the plugin, the header, and a check of the host's
/// side after the run.
struct Case {
    name: &'static str,
    plugin: &'static str,
    header: &'static str,
    after: AfterCheck,
}

/// The socket cases, built from [`SOCKET_MODES`].
fn socket_cases() -> Vec<(String, String)> {
    SOCKET_MODES
        .iter()
        .map(|(mode, arg)| {
            let header = format!(
                ";; expect: guest-error\n;; config: mode={mode},arg={arg}\n;; policy: {SOCKETS_ALLOWED}\n;; assert: /outcome/message contains denied: {mode}"
            );
            (format!("sockets_{mode}"), header)
        })
        .collect()
}

fn nothing() -> Result<(), String> {
    Ok(())
}

/// The files an escaping guest would have written outside its sandbox.
fn no_escape_marker() -> Result<(), String> {
    for path in [
        std::env::temp_dir().join("w2s-escape-marker"),
        PathBuf::from("/tmp/w2s-escape-marker"),
    ] {
        if path.exists() {
            return Err(format!("{} was written", path.display()));
        }
    }
    Ok(())
}

/// The default imports plus every `wasi:sockets` interface.
const SOCKETS_ALLOWED: &str = "imports.allow = [\"w2s:strategy/types\", \"w2s:strategy/task\", \"w2s:strategy/student\", \"w2s:strategy/metrics\", \"wasi:cli/environment\", \"wasi:cli/exit\", \"wasi:cli/stdin\", \"wasi:cli/stdout\", \"wasi:cli/stderr\", \"wasi:cli/terminal-input\", \"wasi:cli/terminal-output\", \"wasi:cli/terminal-stdin\", \"wasi:cli/terminal-stdout\", \"wasi:cli/terminal-stderr\", \"wasi:clocks/monotonic-clock\", \"wasi:clocks/wall-clock\", \"wasi:io/error\", \"wasi:io/poll\", \"wasi:io/streams\", \"wasi:random/random\", \"wasi:sockets/network\", \"wasi:sockets/instance-network\", \"wasi:sockets/tcp\", \"wasi:sockets/tcp-create-socket\", \"wasi:sockets/udp\", \"wasi:sockets/udp-create-socket\", \"wasi:sockets/ip-name-lookup\"]";

/// The socket attempts of `hostile-net`, under a policy that lets the
/// component import the socket interfaces: each must still fail.
const SOCKET_MODES: [(&str, &str); 5] = [
    ("tcp-connect", "127.0.0.1:22"),
    ("tcp-listen", "0.0.0.0:8080"),
    ("udp-bind", "0.0.0.0:5353"),
    ("udp-send", "8.8.8.8:53"),
    ("dns", "example.com"),
];

const CASES: &[Case] = &[
    // Probing and leaking.
    Case {
        name: "stdout_flood",
        plugin: "hostile_guest",
        header: ";; expect: completed
;; config: mode=stdout-flood
;; assert: /stdout/dropped_bytes == 67043328
;; assert: /stdout/kept len<= 65536
;; assert: /notes/0/code == \"output-truncated\"
;; assert: /notes/0/stream == \"stdout\"",
        after: nothing,
    },
    Case {
        name: "stderr_flood",
        plugin: "hostile_guest",
        header: ";; expect: completed
;; config: mode=stderr-flood
;; assert: /stderr/dropped_bytes == 67043328
;; assert: /notes/0/code == \"output-truncated\"",
        after: nothing,
    },
    Case {
        name: "read_etc_passwd",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=read-file,arg=/etc/passwd
;; assert: /outcome/message contains denied: read",
        after: nothing,
    },
    Case {
        name: "read_proc_environ",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=read-file,arg=/proc/self/environ
;; assert: /outcome/message contains denied: read",
        after: nothing,
    },
    Case {
        name: "list_root",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=list-dir,arg=/
;; assert: /outcome/message contains denied: list",
        after: nothing,
    },
    Case {
        name: "write_tmp",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=write-file,arg=/tmp/w2s-escape-marker
;; assert: /outcome/message contains denied: write",
        after: no_escape_marker,
    },
    Case {
        name: "env_args_cwd",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=env
;; assert: /outcome/message contains vars=0 args=0",
        after: nothing,
    },
    Case {
        name: "clocks_as_side_channel",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=clocks
;; assert: /outcome/message == \"wall=1704067200.000000000 busy_ns=1000 idle_ns=1000\"
;; assert: /usage/train_steps == 20",
        after: nothing,
    },
    Case {
        name: "sleep_a_day",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=sleep
;; assert: /outcome/message == \"slept 86400s\"
;; assert: /wall_ms <= 5000",
        after: nothing,
    },
    Case {
        name: "spawn_thread",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=spawn-thread
;; assert: /outcome/message contains denied: spawn",
        after: nothing,
    },
    Case {
        name: "read_stdin",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=read-stdin
;; assert: /outcome/message == \"stdin=0\"",
        after: nothing,
    },
    // Runaway execution and growth.
    Case {
        name: "spin",
        plugin: "hostile_guest",
        header: ";; expect: fuel-exhausted
;; config: mode=spin
;; policy: guest.fuel = 50_000_000
;; assert: /usage/fuel_consumed == 50000000",
        after: nothing,
    },
    // A Rust guest keeps its frames on a shadow stack at the bottom of
    // its own linear memory (`--stack-first`): unbounded recursion runs
    // off address 0 and traps as an out-of-bounds access, before the
    // native wasm stack (bounded too) runs out.
    Case {
        name: "recursion",
        plugin: "hostile_guest",
        header: ";; expect: trap
;; config: mode=recursion
;; assert: /outcome/kind == \"memory-out-of-bounds\"",
        after: nothing,
    },
    Case {
        name: "alloc_huge",
        plugin: "hostile_guest",
        header: ";; expect: memory-limit
;; config: mode=alloc-huge
;; assert: /usage/peak_memory_bytes <= 268435456",
        after: nothing,
    },
    Case {
        name: "oom",
        plugin: "hostile_guest",
        header: ";; expect: memory-limit
;; config: mode=oom
;; policy: guest.memory_bytes = 33_554_432
;; assert: /usage/peak_memory_bytes <= 33554432",
        after: nothing,
    },
    // Bad calls and their ends.
    // WASI 0.2 `exit` carries only success or failure: `exit(3)` is
    // `exit:1`.
    Case {
        name: "exit",
        plugin: "hostile_guest",
        header: ";; expect: trap
;; config: mode=exit
;; assert: /outcome/kind == \"exit:1\"",
        after: nothing,
    },
    Case {
        name: "panic",
        plugin: "hostile_guest",
        header: ";; expect: trap
;; config: mode=panic
;; assert: /outcome/kind == \"unreachable-code-reached\"
;; assert: /stderr/kept contains boom: a hostile guest panicked
;; assert: /message !contains boom",
        after: nothing,
    },
    Case {
        name: "forged_handle",
        plugin: "hostile_guest",
        header: ";; expect: trap
;; config: mode=forged-handle,arg=1
;; assert: /usage/peak_handles == 0",
        after: nothing,
    },
    // Handles and host resources.
    Case {
        name: "students_million",
        plugin: "hostile_guest",
        header: ";; expect: handle-limit
;; config: mode=students-million
;; assert: /usage/peak_handles == 1000",
        after: nothing,
    },
    Case {
        name: "train_forever_step_limit",
        plugin: "hostile_guest",
        header: ";; expect: step-limit
;; config: mode=train-forever
;; policy: host.max_train_steps = 25
;; assert: /usage/train_steps == 25",
        after: nothing,
    },
    Case {
        name: "train_forever_compute_budget",
        plugin: "hostile_guest",
        header: ";; expect: compute-budget-exhausted
;; config: mode=train-forever
;; policy: host.compute_flops = 1_000_000_000
;; assert: /usage/flops <= 1000000000",
        after: nothing,
    },
    Case {
        name: "read_hidden_denied",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=read-hidden
;; policy: students.read_hidden = false
;; assert: /outcome/message contains not-allowed",
        after: nothing,
    },
    Case {
        name: "metric_names",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=metric-names
;; assert: /metrics == 3250
;; assert: /metrics_dropped == 6750",
        after: nothing,
    },
    // Sockets: denied at load time by the default policy, refused at run
    // time when a policy lets the interfaces be imported.
    Case {
        name: "sockets_denied_by_default",
        plugin: "hostile_net",
        header: ";; expect: import-denied
;; config: mode=tcp-connect,arg=127.0.0.1:22
;; assert: /outcome/import contains wasi:sockets/",
        after: nothing,
    },
    // Escaping the scratch directory.
    Case {
        name: "scratch_absent_by_default",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=scratch-escape
;; assert: /outcome/message !contains LEAK
;; assert: /usage/scratch_bytes == 0",
        after: no_escape_marker,
    },
    Case {
        name: "scratch_escape",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=scratch-escape
;; policy: filesystem.scratch = true
;; assert: /outcome/message contains denied: 15 escapes refused",
        after: no_escape_marker,
    },
    // 1 MiB writes into a 4 MiB quota (creating the file costs 4 KiB):
    // the fourth write is refused whole. Rust's std sees the stream's
    // refusal as a plain I/O error; the WASI error code (`quota`) is only
    // visible through `filesystem-error-code`.
    Case {
        name: "scratch_quota",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=scratch-quota
;; policy: filesystem.scratch = true
;; policy: filesystem.scratch_quota_bytes = 4_194_304
;; assert: /outcome/message contains stopped after 3145728 bytes
;; assert: /usage/scratch_bytes <= 4194304",
        after: nothing,
    },
    // A known hole, pinned so that SECURITY.md stays true: file
    // timestamps in the scratch directory are the host's real time, a
    // clock the guest otherwise does not have (with the scratch directory
    // off, there is no file to time).
    Case {
        name: "scratch_mtime_is_the_real_time",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=scratch-mtime
;; policy: filesystem.scratch = true
;; assert: /outcome/message contains mtime=
;; assert: /outcome/message !contains mtime=1704067200",
        after: nothing,
    },
    Case {
        name: "scratch_many_files",
        plugin: "hostile_guest",
        header: ";; expect: guest-error
;; config: mode=scratch-files
;; policy: filesystem.scratch = true
;; policy: filesystem.scratch_quota_bytes = 1_048_576
;; assert: /outcome/message contains stopped after 256 files
;; assert: /outcome/message contains quota",
        after: nothing,
    },
];

/// The bytes of a plugin, read once.
fn wasm(name: &str) -> &'static [u8] {
    static GUEST: OnceLock<Vec<u8>> = OnceLock::new();
    static NET: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = match name {
        "hostile_guest" => &GUEST,
        "hostile_net" => &NET,
        other => panic!("no plugin {other}"),
    };
    cell.get_or_init(|| std::fs::read(plugin(name)).unwrap())
}

fn run_case(plugin: &str, header: &str, after: AfterCheck) -> Result<(), String> {
    let header = Header::parse(header)?;
    let policy = header.policy()?;
    let own;
    let sandbox = if policy == w2s_host::Policy::default() {
        &default_sandbox().sandbox
    } else {
        own = Sandbox::new(policy).map_err(|e| e.to_string())?;
        &own
    };
    check_case(sandbox, wasm(plugin), &header, after)
}

/// The scorer process gets what a hostile run produced: a student whose
/// weights are NaN (finite but huge sample weights poison one step). It
/// scores it like a constant classifier, without failing or harm.
#[test]
fn a_nan_student_is_scored_like_a_constant_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (report, _) = eval_report(
        &plugin("hostile_guest"),
        &default_task(),
        dir.path(),
        "report.json",
        &[
            "--seed",
            "7",
            "--config",
            "mode=nan-student",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    assert_eq!(report["runs"][0]["outcome"]["code"], "completed");
    for part in ["public", "private"] {
        let score = &report["score"][part];
        let acc = score["student_acc"]["mean"].as_f64().unwrap();
        // NaN rows all go to class 0 (argmax keeps the first on ties and
        // never moves to NaN): the accuracy of always answering class 0.
        assert!((0.0..=0.5).contains(&acc), "{part} student_acc {acc}");
        assert!(score["pgr"]["mean"].as_f64().unwrap() < 0.0, "{score}");
    }
}

/// Without `--seed`, the run seeds come from the evaluator's secret and
/// the submission (tests/all/seeds.rs recomputes the derivation): a guest
/// reads its seed (`task.seed`) but never picks it.
#[test]
fn the_run_seed_is_derived_not_chosen_by_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (o, _, stderr) = run_on_default_task(
        &plugin("vanilla"),
        &out,
        &dir.path().join("cache"),
        &["--config", "epochs=1,hidden=16"],
    );
    assert!(o.status.success(), "{stderr}");
    let report = read_json(&out.join("run.json"));
    assert_eq!(report["seeds"]["source"], "secret");
    let planned = report["seeds"]["values"].as_array().unwrap();
    let ran: Vec<&Value> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["seed"])
        .collect();
    assert_eq!(planned.iter().collect::<Vec<_>>(), ran);
}

#[test]
fn every_hostile_plugin_case_ends_as_its_header_says() {
    let mut cases: Vec<(String, &str, String, AfterCheck)> = CASES
        .iter()
        .map(|c| (c.name.to_owned(), c.plugin, c.header.to_owned(), c.after))
        .collect();
    for (name, header) in socket_cases() {
        cases.push((name, "hostile_net", header, nothing));
    }
    let mut names: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names repeat");
    assert_each_passes(
        cases
            .iter()
            .map(|(name, plugin, header, after)| (name, || run_case(plugin, header, *after))),
    );
}
