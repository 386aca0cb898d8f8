//! A policy in plain words: each capability granted or denied, each limit
//! with its unit and what happens when a strategy reaches it. The same
//! content as data ([`Explanation`], serializable) and as text
//! ([`Explanation::to_text`]).

use serde::Serialize;

use crate::Policy;
use crate::file::ArchFamily;
use crate::interfaces::{W2S_INTERFACES, WASI_INTERFACES};

/// One capability, granted or denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// A short stable name (`hidden-representations`, `network`, ...).
    pub name: &'static str,
    /// Whether the policy grants it.
    pub granted: bool,
    /// What it means here, in plain words.
    pub detail: String,
}

/// One limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// The field, as `section.key`.
    pub field: &'static str,
    /// Its value.
    pub value: u64,
    /// The unit of `value`.
    pub unit: &'static str,
    /// What it bounds.
    pub meaning: &'static str,
    /// What happens to a strategy that reaches it.
    pub when_reached: &'static str,
}

/// One host interface and whether a guest may import it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// Its name, without version.
    pub name: &'static str,
    /// Whether a component may import it.
    pub allowed: bool,
    /// What it gives a guest in this sandbox.
    pub gives: &'static str,
}

/// Everything `w2s policy explain` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The policy format version.
    pub version: u32,
    /// sha256 of the effective policy's canonical JSON.
    pub sha256: String,
    /// What a strategy may and may not do.
    pub capabilities: Vec<Capability>,
    /// Every limit, with its unit.
    pub limits: Vec<Limit>,
    /// Every interface the sandbox knows, allowed or not.
    pub interfaces: Vec<Interface>,
}

fn arch_words(p: &Policy) -> String {
    let words: Vec<String> = p
        .students()
        .allow
        .iter()
        .map(|a| match a.family {
            ArchFamily::Linear => "linear probes".to_owned(),
            ArchFamily::Mlp => format!("two-layer MLPs with 1 to {} hidden units", a.max_hidden),
            ArchFamily::LmLora => String::new(),
        })
        .chain(p.students().lora.iter().map(|l| {
            let targets: Vec<&str> = l.targets.iter().map(|t| t.name()).collect();
            let layers = match &l.layers {
                None => "every layer".to_owned(),
                Some(v) => format!(
                    "layers {}",
                    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                ),
            };
            format!(
                "the strong model with LoRA adapters of rank 1 to {} on {} ({layers})",
                l.max_rank,
                targets.join("/")
            )
        }))
        .collect();
    words.join("; ")
}

fn capabilities(p: &Policy) -> Vec<Capability> {
    let may = |name: &str| p.imports().allow.contains(name);
    let cap = |name, granted, detail: String| Capability {
        name,
        granted,
        detail,
    };
    let io = p.io();
    let scratch = match &p.filesystem().scratch {
        Some(s) => format!(
            "a fresh, empty directory at {} for each run, deleted afterwards; writes past {} bytes are refused",
            s.guest_path, s.quota_bytes
        ),
        None => "no directory is visible to the strategy".to_owned(),
    };
    let sockets = WASI_INTERFACES
        .iter()
        .any(|(n, _)| n.starts_with("wasi:sockets/") && may(n));
    vec![
        cap("build-students", true, format!("build and train students in host memory: {}", arch_words(p))),
        cap(
            "weak-labels",
            may("w2s:strategy/task"),
            "read the task's sizes, the run seed and the weak teacher's labels of the pool (never ground truth, never test data)".to_owned(),
        ),
        cap(
            "hidden-representations",
            p.students().read_hidden,
            if p.students().read_hidden {
                "read a student's hidden representation of pool examples (`student.hidden`)".to_owned()
            } else {
                "`student.hidden` returns the error `not-allowed`".to_owned()
            },
        ),
        cap("metrics", may("w2s:strategy/metrics"), format!("log up to {} metric points into the report", p.host().max_metric_points)),
        cap(
            "stdout-stderr",
            may("wasi:cli/stdout") || may("wasi:cli/stderr"),
            format!(
                "print; the first {} bytes of stdout and {} of stderr are kept in the report, the rest is counted and dropped",
                io.stdout_bytes, io.stderr_bytes
            ),
        ),
        cap("scratch-directory", p.filesystem().scratch.is_some(), scratch),
        cap("other-files", false, "no file or directory of the host is visible; paths cannot leave the scratch directory".to_owned()),
        cap(
            "network",
            false,
            if sockets {
                "socket interfaces may be imported, but every address is refused".to_owned()
            } else {
                "no socket interface may be imported".to_owned()
            },
        ),
        cap("environment", false, "environment variables and arguments are empty; stdin is empty".to_owned()),
        cap(
            "real-time",
            false,
            if may("wasi:clocks/wall-clock") || may("wasi:clocks/monotonic-clock") {
                "clocks are fake: the wall clock is fixed at 2024-01-01T00:00:00Z, the monotonic clock advances per read and sleeps never wait".to_owned()
            } else {
                "no clock interface may be imported".to_owned()
            },
        ),
        cap(
            "randomness",
            may("wasi:random/random") || may("wasi:random/insecure"),
            if may("wasi:random/random") || may("wasi:random/insecure") {
                "random bytes, derived from the run seed (reproducible, so never a secret)".to_owned()
            } else {
                "no random interface may be imported".to_owned()
            },
        ),
        cap("exit", may("wasi:cli/exit"), "end the run early (the outcome is a trap `exit:<status>`)".to_owned()),
    ]
}

fn limits(p: &Policy) -> Vec<Limit> {
    let (g, h, io, c) = (p.guest(), p.host(), p.io(), p.compile());
    let l = |field, value, unit, meaning, when_reached| Limit {
        field,
        value,
        unit,
        meaning,
        when_reached,
    };
    let mut v = vec![
        l(
            "guest.fuel",
            g.fuel,
            "instructions",
            "wasm instructions executed, roughly",
            "the run ends: fuel-exhausted",
        ),
        l(
            "guest.wall_clock_ms",
            g.wall_clock_ms,
            "milliseconds",
            "wall-clock time of the whole run, host calls included",
            "the run ends: timeout",
        ),
        l(
            "guest.memory_bytes",
            g.memory_bytes,
            "bytes",
            "all linear memories together",
            "the run ends: memory-limit",
        ),
        l(
            "guest.table_elements",
            g.table_elements,
            "elements",
            "size of any one table",
            "the run ends: memory-limit",
        ),
        l(
            "guest.instances",
            g.instances.into(),
            "instances",
            "core wasm instances",
            "the run ends: invalid-module",
        ),
        l(
            "host.max_handles",
            h.max_handles.into(),
            "handles",
            "live students and optimizers together",
            "the run ends: handle-limit",
        ),
        l(
            "host.tensor_bytes",
            h.tensor_bytes,
            "bytes",
            "host memory of student parameters and optimizer state",
            "the run ends: tensor-memory-limit",
        ),
        l(
            "host.max_elements_per_call",
            h.max_elements_per_call,
            "elements",
            "f32 values in any one list or tensor of one call",
            "the call returns invalid-argument",
        ),
        l(
            "host.max_indices_per_call",
            h.max_indices_per_call.into(),
            "indices",
            "pool indices in one call",
            "the call returns invalid-argument",
        ),
        l(
            "host.compute_flops",
            h.compute_flops,
            "FLOPs",
            "estimated floating-point operations of the training primitives",
            "the run ends: compute-budget-exhausted",
        ),
        l(
            "host.max_train_steps",
            h.max_train_steps,
            "steps",
            "training steps taken",
            "the run ends: step-limit",
        ),
        l(
            "host.max_metric_points",
            h.max_metric_points.into(),
            "points",
            "metric points kept",
            "later points are counted and dropped",
        ),
        l(
            "io.stdout_bytes",
            io.stdout_bytes,
            "bytes",
            "stdout kept in the report",
            "the rest is dropped (a note, not a failure)",
        ),
        l(
            "io.stderr_bytes",
            io.stderr_bytes,
            "bytes",
            "stderr kept in the report",
            "the rest is dropped (a note, not a failure)",
        ),
        l(
            "io.max_wasm_bytes",
            io.max_wasm_bytes,
            "bytes",
            "size of the component, checked before compiling",
            "the component is refused: invalid-module",
        ),
        l(
            "io.audit_bytes",
            io.audit_bytes,
            "bytes",
            "size of the audit log (--audit)",
            "later records are counted, not written",
        ),
        l(
            "compile.timeout_ms",
            c.timeout_ms,
            "milliseconds",
            "wall-clock time to compile the component",
            "the component is refused: invalid-module",
        ),
        l(
            "compile.memory_bytes",
            c.memory_bytes,
            "bytes",
            "address space of the compiling process",
            "the component is refused: invalid-module",
        ),
    ];
    if let Some(s) = &p.filesystem().scratch {
        v.push(l(
            "filesystem.scratch_quota_bytes",
            s.quota_bytes,
            "bytes",
            "bytes written to the scratch directory (each new file or directory counts 4096)",
            "the write fails with `quota`",
        ));
    }
    v
}

impl Explanation {
    /// The explanation of `policy`.
    pub fn of(policy: &Policy) -> Self {
        let interfaces = W2S_INTERFACES
            .iter()
            .chain(WASI_INTERFACES.iter())
            .map(|(name, gives)| Interface {
                name,
                allowed: policy.imports().allow.contains(*name),
                gives,
            })
            .collect();
        Explanation {
            version: 1,
            sha256: policy.sha256(),
            capabilities: capabilities(policy),
            limits: limits(policy),
            interfaces,
        }
    }

    /// The explanation as text for people.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Policy format version {}, sha256 {}\n\nWhat the strategy may do:\n",
            self.version, self.sha256
        );
        for c in &self.capabilities {
            let word = if c.granted { "granted" } else { "denied " };
            out.push_str(&format!("  {word}  {}: {}\n", c.name, c.detail));
        }
        out.push_str("\nLimits (value, unit, what it bounds; what happens when it is reached):\n");
        let width = self.limits.iter().map(|l| l.field.len()).max().unwrap_or(0);
        for l in &self.limits {
            out.push_str(&format!(
                "  {:<width$}  {} {}{}: {}; {}\n",
                l.field,
                l.value,
                l.unit,
                in_words(l.value, l.unit),
                l.meaning,
                l.when_reached
            ));
        }
        out.push_str("\nHost interfaces a component may import (any other import is refused when the component is loaded):\n");
        for i in self.interfaces.iter().filter(|i| i.allowed) {
            out.push_str(&format!("  allowed  {}: {}\n", i.name, i.gives));
        }
        let denied: Vec<&str> = self
            .interfaces
            .iter()
            .filter(|i| !i.allowed)
            .map(|i| i.name)
            .collect();
        if !denied.is_empty() {
            out.push_str(&format!("  refused  {}\n", denied.join(", ")));
        }
        out
    }
}

/// ` (64 MiB)` for byte counts that are whole binary units, ` (2 minutes)`
/// for long durations; empty otherwise.
fn in_words(value: u64, unit: &str) -> String {
    match unit {
        "bytes" => {
            for (shift, name) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
                if value >= 1 << shift && value.is_multiple_of(1 << shift) {
                    return format!(" ({} {name})", value >> shift);
                }
            }
            String::new()
        }
        "milliseconds" if value >= 1000 && value.is_multiple_of(1000) => {
            let s = value / 1000;
            if s.is_multiple_of(60) {
                format!(" ({} min)", s / 60)
            } else {
                format!(" ({s} s)")
            }
        }
        "instructions" | "FLOPs" if value >= 1_000_000_000 => {
            let exp = value.ilog10();
            let mantissa = value as f64 / 10f64.powi(exp as i32);
            format!(" ({}e{exp})", (mantissa * 100.0).round() / 100.0)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_unit_and_every_interface_is_listed() {
        let e = Explanation::of(&Policy::default());
        assert!(e.limits.iter().all(|l| !l.unit.is_empty()));
        assert_eq!(e.interfaces.len(), 33);
        let text = e.to_text();
        assert!(text.contains("guest.memory_bytes"));
        assert!(text.contains("268435456 bytes (256 MiB)"), "{text}");
        assert!(text.contains("denied   scratch-directory"), "{text}");
        assert!(
            text.contains("refused  w2s:strategy/lm, wasi:sockets/instance-network"),
            "{text}"
        );
    }

    #[test]
    fn hidden_denied_says_what_the_guest_gets() {
        let p = Policy::from_toml_str("version = 1\n[students]\nread_hidden = false\n").unwrap();
        let e = Explanation::of(&p);
        let c = e
            .capabilities
            .iter()
            .find(|c| c.name == "hidden-representations")
            .unwrap();
        assert!(!c.granted);
        assert!(c.detail.contains("not-allowed"));
    }

    #[test]
    fn units_in_words() {
        assert_eq!(in_words(65536, "bytes"), " (64 KiB)");
        assert_eq!(in_words(120_000, "milliseconds"), " (2 min)");
        assert_eq!(in_words(1500, "milliseconds"), "");
        assert_eq!(in_words(7, "FLOPs"), "");
        assert_eq!(in_words(50_000_000_000_000, "FLOPs"), " (5e13)");
        assert_eq!(in_words(2_500_000_000, "instructions"), " (2.5e9)");
    }
}
