//! `TryFrom<PolicyFile> for Policy`: range checks against the hard caps,
//! then the checks between fields.

use std::collections::BTreeSet;

use crate::caps::*;
use crate::error::PolicyError;
use crate::file::{ArchFamily, PolicyFile, StudentsFile};
use crate::interfaces::{REQUIRED_IMPORTS, SCRATCH_IMPORTS, is_known};
use crate::{
    ArchLimit, DEFAULT_SCRATCH_QUOTA_BYTES, Filesystem, Imports, Policy, SCRATCH_GUEST_PATH,
    Scratch, Students,
};

const BELOW: &str = "below the minimum of";
const ABOVE: &str = "above the hard cap of";

/// One range check: field, value, minimum (with reason), maximum (with
/// reason).
type Range = (&'static str, u64, (u64, &'static str), (u64, &'static str));

fn check_ranges(ranges: &[Range]) -> Result<(), PolicyError> {
    for &(field, value, (min, why_min), (max, why_max)) in ranges {
        if value < min {
            return Err(PolicyError::OutOfRange {
                field,
                value,
                relation: BELOW,
                bound: min,
                reason: why_min,
            });
        }
        if value > max {
            return Err(PolicyError::OutOfRange {
                field,
                value,
                relation: ABOVE,
                bound: max,
                reason: why_max,
            });
        }
    }
    Ok(())
}

const POSITIVE: &str = "zero would refuse every guest";
const NONE: &str = "";

fn numeric(f: &PolicyFile) -> Result<(), PolicyError> {
    let (g, h, io, c) = (&f.guest, &f.host, &f.io, &f.compile);
    check_ranges(&[
        ("guest.fuel", g.fuel, (1, POSITIVE), (u64::MAX, NONE)),
        (
            "guest.wall_clock_ms",
            g.wall_clock_ms,
            (1, POSITIVE),
            (HARD_MAX_WALL_CLOCK_MS, "a run must end within a day"),
        ),
        (
            "guest.memory_bytes",
            g.memory_bytes,
            (
                MIN_MEMORY_BYTES,
                "a Rust wasip2 guest needs about 1.1 MiB of linear memory to start",
            ),
            (HARD_MAX_MEMORY_BYTES, "the wasm32 address space is 4 GiB"),
        ),
        (
            "guest.table_elements",
            g.table_elements,
            (1, POSITIVE),
            (
                HARD_MAX_TABLE_ELEMENTS,
                "each element costs the host memory",
            ),
        ),
        (
            "guest.instances",
            g.instances.into(),
            (
                MIN_INSTANCES.into(),
                "a Rust wasip2 guest instantiates 3 core instances",
            ),
            (
                HARD_MAX_INSTANCES.into(),
                "each instance costs the host memory",
            ),
        ),
        (
            "host.max_handles",
            h.max_handles.into(),
            (1, "a strategy must hold at least the student it returns"),
            (
                HARD_MAX_HANDLES.into(),
                "handles are host memory fuel does not bound",
            ),
        ),
        (
            "host.tensor_bytes",
            h.tensor_bytes,
            (1, POSITIVE),
            (HARD_MAX_TENSOR_BYTES, "more than any host has"),
        ),
        (
            "host.max_elements_per_call",
            h.max_elements_per_call,
            (1, POSITIVE),
            (HARD_MAX_ELEMENTS_PER_CALL, "one call's host buffers"),
        ),
        (
            "host.max_indices_per_call",
            h.max_indices_per_call.into(),
            (1, POSITIVE),
            (HARD_MAX_INDICES_PER_CALL.into(), "one call's host buffers"),
        ),
        (
            "host.compute_flops",
            h.compute_flops,
            (1, POSITIVE),
            (u64::MAX, NONE),
        ),
        (
            "host.max_train_steps",
            h.max_train_steps,
            (0, NONE),
            (u64::MAX, NONE),
        ),
        (
            "host.max_metric_points",
            h.max_metric_points.into(),
            (0, NONE),
            (
                HARD_MAX_METRIC_POINTS.into(),
                "metric points end up in the report",
            ),
        ),
        (
            "io.stdout_bytes",
            io.stdout_bytes,
            (0, NONE),
            (HARD_MAX_OUTPUT_BYTES, "kept output ends up in the report"),
        ),
        (
            "io.stderr_bytes",
            io.stderr_bytes,
            (0, NONE),
            (HARD_MAX_OUTPUT_BYTES, "kept output ends up in the report"),
        ),
        (
            "io.max_wasm_bytes",
            io.max_wasm_bytes,
            (MIN_WASM_BYTES, "the wasm header alone is 8 bytes"),
            (
                HARD_MAX_WASM_BYTES,
                "compile time and memory grow with size",
            ),
        ),
        (
            "io.audit_bytes",
            io.audit_bytes,
            (MIN_AUDIT_BYTES, "the summary line must always fit"),
            (
                HARD_MAX_AUDIT_BYTES,
                "the audit log is written to the evaluator's disk",
            ),
        ),
        (
            "compile.timeout_ms",
            c.timeout_ms,
            (1, POSITIVE),
            (
                HARD_MAX_COMPILE_TIMEOUT_MS,
                "compilation must end within an hour",
            ),
        ),
        (
            "compile.memory_bytes",
            c.memory_bytes,
            (
                MIN_COMPILE_MEMORY_BYTES,
                "even a small strategy may not compile with less",
            ),
            (
                HARD_MAX_COMPILE_MEMORY_BYTES,
                "the evaluator's memory is shared",
            ),
        ),
    ])?;
    if h.max_elements_per_call < u64::from(h.max_indices_per_call) {
        return Err(PolicyError::Conflict {
            field: "host.max_elements_per_call",
            other: format!("host.max_indices_per_call = {}", h.max_indices_per_call),
            reason: "a call with the most indices allowed could not return one value per index"
                .to_owned(),
        });
    }
    Ok(())
}

fn students(s: &StudentsFile) -> Result<Students, PolicyError> {
    if s.allow.is_empty() {
        return Err(PolicyError::Invalid {
            field: "students.allow".to_owned(),
            reason: "must allow at least one architecture (a strategy returns a student)"
                .to_owned(),
        });
    }
    let mut seen = BTreeSet::new();
    let mut allow = Vec::with_capacity(s.allow.len());
    let mut lora = None;
    for (i, rule) in s.allow.iter().enumerate() {
        let field = format!("students.allow[{i}]");
        if !seen.insert(rule.family) {
            return Err(PolicyError::Invalid {
                field,
                reason: format!("family `{}` is listed twice", family_name(rule.family)),
            });
        }
        if rule.family != ArchFamily::LmLora {
            for (name, given) in [
                ("max_rank", rule.max_rank.is_some()),
                ("layers", rule.layers.is_some()),
                ("targets", rule.targets.is_some()),
            ] {
                if given {
                    return Err(PolicyError::Invalid {
                        field: format!("{field}.{name}"),
                        reason: format!(
                            "only `lm_lora` has `{name}`; remove it from `{}`",
                            family_name(rule.family)
                        ),
                    });
                }
            }
        }
        let max_hidden = match (rule.family, rule.max_hidden) {
            (ArchFamily::LmLora, _) => {
                lora = Some(crate::lora_rule::lora_limit(rule, &field)?);
                continue;
            }
            (ArchFamily::Linear, None) => 0,
            (ArchFamily::Linear, Some(_)) => {
                return Err(PolicyError::Invalid {
                    field: format!("{field}.max_hidden"),
                    reason: "a linear probe has no hidden layer; remove `max_hidden`".to_owned(),
                });
            }
            (ArchFamily::Mlp, None) => {
                return Err(PolicyError::Invalid {
                    field: format!("{field}.max_hidden"),
                    reason: "`mlp` needs `max_hidden`, the widest hidden layer allowed".to_owned(),
                });
            }
            (ArchFamily::Mlp, Some(h)) if h == 0 || h > HARD_MAX_HIDDEN => {
                return Err(PolicyError::Invalid {
                    field: format!("{field}.max_hidden"),
                    reason: format!("{h} is outside 1..={HARD_MAX_HIDDEN}"),
                });
            }
            (ArchFamily::Mlp, Some(h)) => h,
        };
        allow.push(ArchLimit {
            family: rule.family,
            max_hidden,
        });
    }
    Ok(Students {
        allow,
        lora,
        read_hidden: s.read_hidden,
    })
}

/// `linear` or `mlp`, as in the file.
pub(crate) fn family_name(f: ArchFamily) -> &'static str {
    match f {
        ArchFamily::Linear => "linear",
        ArchFamily::Mlp => "mlp",
        ArchFamily::LmLora => "lm_lora",
    }
}

fn imports(names: &[String]) -> Result<Imports, PolicyError> {
    let mut allow = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let field = format!("imports.allow[{i}]");
        if name.contains('@') {
            return Err(PolicyError::Invalid {
                field,
                reason: format!("write `{name}` without its version (`ns:pkg/interface`)"),
            });
        }
        if !is_known(name) {
            return Err(PolicyError::Invalid {
                field,
                reason: format!("`{name}` is not an interface the sandbox provides"),
            });
        }
        if !allow.insert(name.clone()) {
            return Err(PolicyError::Invalid {
                field,
                reason: format!("`{name}` is listed twice"),
            });
        }
    }
    for required in REQUIRED_IMPORTS {
        if !allow.contains(required) {
            return Err(PolicyError::Invalid {
                field: "imports.allow".to_owned(),
                reason: format!(
                    "must include `{required}`: a strategy returns a student, which it defines"
                ),
            });
        }
    }
    Ok(Imports { allow })
}

fn filesystem(f: &PolicyFile, imports: &Imports) -> Result<Filesystem, PolicyError> {
    let fs = &f.filesystem;
    if !fs.scratch {
        if let Some(q) = fs.scratch_quota_bytes {
            return Err(PolicyError::Conflict {
                field: "filesystem.scratch_quota_bytes",
                other: "filesystem.scratch = false".to_owned(),
                reason: format!(
                    "a quota of {q} bytes needs the scratch directory on (`scratch = true`)"
                ),
            });
        }
        return Ok(Filesystem { scratch: None });
    }
    let quota_bytes = fs
        .scratch_quota_bytes
        .unwrap_or(DEFAULT_SCRATCH_QUOTA_BYTES);
    check_ranges(&[(
        "filesystem.scratch_quota_bytes",
        quota_bytes,
        (1, "use `scratch = false` to give no scratch directory"),
        (HARD_MAX_SCRATCH_BYTES, "the evaluator's disk is shared"),
    )])?;
    if let Some(missing) = SCRATCH_IMPORTS
        .iter()
        .find(|n| !imports.allow.contains(**n))
    {
        return Err(PolicyError::Conflict {
            field: "filesystem.scratch",
            other: "imports.allow".to_owned(),
            reason: format!("the scratch directory needs `{missing}` in the allowed imports"),
        });
    }
    Ok(Filesystem {
        scratch: Some(Scratch {
            guest_path: SCRATCH_GUEST_PATH.to_owned(),
            quota_bytes,
        }),
    })
}

impl TryFrom<PolicyFile> for Policy {
    type Error = PolicyError;

    fn try_from(f: PolicyFile) -> Result<Self, PolicyError> {
        numeric(&f)?;
        let students = students(&f.students)?;
        let imports = imports(&f.imports.allow)?;
        let filesystem = filesystem(&f, &imports)?;
        Ok(Policy {
            version: f.version,
            guest: f.guest,
            host: f.host,
            io: f.io,
            compile: f.compile,
            students,
            filesystem,
            imports,
        })
    }
}
