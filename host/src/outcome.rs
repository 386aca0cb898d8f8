//! How a run ended: one typed [`Outcome`] per run, found from wasmtime's
//! error with `downcast_ref`, never by matching message text.

use serde::{Deserialize, Serialize};
use wasmtime::component::ResourceTableError;
use wasmtime_wasi::I32Exit;

use crate::error::{GrowthRefused, HostTrap, truncate};
use crate::limits::MAX_BACKTRACE_BYTES;

/// How a run ended. Serialized with its [`Outcome::code`] in a `code`
/// field, next to the variant's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Outcome {
    /// `run` returned a student of an allowed architecture.
    Completed,
    /// `run` returned `err(message)`.
    GuestError {
        /// The guest's message, truncated to 1 KiB. Guest data: never a
        /// headline.
        message: String,
    },
    /// The guest trapped (a wasm trap, `exit`, or a host fault).
    Trap {
        /// What trapped, in kebab-case: a wasm trap code such as
        /// `unreachable-code-reached`, `exit:<status>`, `host-internal` or
        /// `host-error`.
        kind: String,
        /// The wasm backtrace, truncated to 4 KiB; empty when there is none.
        backtrace: String,
    },
    /// The guest used all its fuel.
    FuelExhausted,
    /// The wall-clock deadline passed.
    Timeout,
    /// A linear memory or a table would have grown past its limit.
    MemoryLimit,
    /// The guest created more live students and optimizers (or WASI
    /// resources) than allowed.
    HandleLimit,
    /// Student parameters and optimizer state would have passed the tensor
    /// memory limit.
    TensorMemoryLimit,
    /// The training primitives' compute budget ran out.
    ComputeBudgetExhausted,
    /// The strategy tried to take more train steps than allowed.
    StepLimit,
    /// `run` returned something the host cannot score.
    InvalidResult {
        /// Why (host text).
        reason: String,
    },
    /// The component could not be loaded or instantiated.
    InvalidModule {
        /// Why (host text).
        reason: String,
    },
    /// The component imports an interface the policy does not allow (or
    /// that the sandbox does not provide); it was refused at load time.
    ImportDenied {
        /// The import, as the component spells it (truncated to 256 bytes).
        import: String,
    },
}

impl Outcome {
    /// Every [`Outcome::code`], in the order of the variants: what a test
    /// fixture or a report reader may expect.
    pub const CODES: &'static [&'static str] = &[
        "completed",
        "guest-error",
        "trap",
        "fuel-exhausted",
        "timeout",
        "memory-limit",
        "handle-limit",
        "tensor-memory-limit",
        "compute-budget-exhausted",
        "step-limit",
        "invalid-result",
        "invalid-module",
        "import-denied",
    ];

    /// A stable machine code, kebab-case.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::GuestError { .. } => "guest-error",
            Outcome::Trap { .. } => "trap",
            Outcome::FuelExhausted => "fuel-exhausted",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::HandleLimit => "handle-limit",
            Outcome::TensorMemoryLimit => "tensor-memory-limit",
            Outcome::ComputeBudgetExhausted => "compute-budget-exhausted",
            Outcome::StepLimit => "step-limit",
            Outcome::InvalidResult { .. } => "invalid-result",
            Outcome::InvalidModule { .. } => "invalid-module",
            Outcome::ImportDenied { .. } => "import-denied",
        }
    }

    /// A one-line message for people. It never contains guest text: the
    /// guest's message stays in [`Outcome::GuestError::message`].
    pub fn message(&self) -> String {
        let text = match self {
            Outcome::Completed => "the strategy returned a student".to_owned(),
            Outcome::GuestError { .. } => {
                "the strategy's run returned an error (see its message)".to_owned()
            }
            Outcome::Trap { kind, .. } => format!("the strategy trapped ({kind})"),
            Outcome::FuelExhausted => "the strategy ran out of fuel".to_owned(),
            Outcome::Timeout => "the run passed its wall-clock deadline".to_owned(),
            Outcome::MemoryLimit => {
                "a linear memory or table would have grown past its limit".to_owned()
            }
            Outcome::HandleLimit => "the strategy held too many live handles".to_owned(),
            Outcome::TensorMemoryLimit => {
                "student parameters and optimizer state passed the tensor memory limit".to_owned()
            }
            Outcome::ComputeBudgetExhausted => {
                "the strategy used its whole compute budget".to_owned()
            }
            Outcome::InvalidResult { reason } => {
                format!("the strategy returned an invalid result: {reason}")
            }
            Outcome::StepLimit => "the strategy took the most train steps allowed".to_owned(),
            Outcome::InvalidModule { reason } => format!("the component was refused: {reason}"),
            Outcome::ImportDenied { import } => {
                format!("the component imports `{import}`, which the policy does not allow")
            }
        };
        crate::error::printable(&text.replace(['\n', '\r'], " "))
    }

    /// Whether the run completed.
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed)
    }
}

/// Something worth knowing about a run that is not a failure. Serialized
/// with its [`Note::code`] in a `code` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Note {
    /// A stream wrote more than the policy keeps; the rest was counted and
    /// dropped.
    OutputTruncated {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// Bytes kept.
        kept_bytes: u64,
        /// Bytes dropped.
        dropped_bytes: u64,
    },
}

impl Note {
    /// A stable machine code, kebab-case.
    pub fn code(&self) -> &'static str {
        match self {
            Note::OutputTruncated { .. } => "output-truncated",
        }
    }

    /// A one-line message for people.
    pub fn message(&self) -> String {
        match self {
            Note::OutputTruncated {
                stream,
                kept_bytes,
                dropped_bytes,
            } => format!(
                "{stream} was cut: {kept_bytes} bytes kept, {dropped_bytes} more dropped (io.{stream}_bytes)"
            ),
        }
    }
}

/// `UnreachableCodeReached` -> `unreachable-code-reached`.
pub(crate) fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn backtrace(err: &wasmtime::Error) -> String {
    err.downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| truncate(bt.to_string(), MAX_BACKTRACE_BYTES))
        .unwrap_or_default()
}

/// Classifies the error of a failed instantiation or call. `None` when the
/// error is none of the typed causes (the caller decides what an untyped
/// error means at its stage).
pub(crate) fn classify_typed(err: &wasmtime::Error) -> Option<Outcome> {
    if let Some(trap) = err.downcast_ref::<HostTrap>() {
        return Some(match trap {
            HostTrap::ComputeBudget { .. } => Outcome::ComputeBudgetExhausted,
            HostTrap::Timeout => Outcome::Timeout,
            HostTrap::HandleLimit { .. } => Outcome::HandleLimit,
            HostTrap::TensorMemory { .. } => Outcome::TensorMemoryLimit,
            HostTrap::StepLimit { .. } => Outcome::StepLimit,
            HostTrap::Internal { .. } => Outcome::Trap {
                kind: "host-internal".to_owned(),
                backtrace: backtrace(err),
            },
        });
    }
    if err.downcast_ref::<GrowthRefused>().is_some() {
        return Some(Outcome::MemoryLimit);
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        return Some(match trap {
            wasmtime::Trap::OutOfFuel => Outcome::FuelExhausted,
            wasmtime::Trap::Interrupt => Outcome::Timeout,
            other => Outcome::Trap {
                kind: kebab(&format!("{other:?}")),
                backtrace: backtrace(err),
            },
        });
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Some(Outcome::Trap {
            kind: format!("exit:{}", exit.0),
            backtrace: backtrace(err),
        });
    }
    match err.downcast_ref::<ResourceTableError>() {
        Some(ResourceTableError::Full) => Some(Outcome::HandleLimit),
        Some(_) => Some(Outcome::Trap {
            kind: "host-internal".to_owned(),
            backtrace: backtrace(err),
        }),
        None => None,
    }
}

/// Classifies the error of a failed call into the guest: a typed cause, or
/// a `host-error` trap (a WASI host function refused, for example).
pub(crate) fn classify_call(err: &wasmtime::Error) -> Outcome {
    classify_typed(err).unwrap_or_else(|| Outcome::Trap {
        kind: "host-error".to_owned(),
        backtrace: backtrace(err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The place of a variant in [`all`]: a variant added to [`Outcome`]
    /// does not compile here until it is listed there.
    fn place(o: &Outcome) -> usize {
        match o {
            Outcome::Completed => 0,
            Outcome::GuestError { .. } => 1,
            Outcome::Trap { .. } => 2,
            Outcome::FuelExhausted => 3,
            Outcome::Timeout => 4,
            Outcome::MemoryLimit => 5,
            Outcome::HandleLimit => 6,
            Outcome::TensorMemoryLimit => 7,
            Outcome::ComputeBudgetExhausted => 8,
            Outcome::StepLimit => 9,
            Outcome::InvalidResult { .. } => 10,
            Outcome::InvalidModule { .. } => 11,
            Outcome::ImportDenied { .. } => 12,
        }
    }

    /// One of each variant.
    fn all() -> Vec<Outcome> {
        vec![
            Outcome::Completed,
            Outcome::GuestError {
                message: "m".into(),
            },
            Outcome::Trap {
                kind: "k".into(),
                backtrace: String::new(),
            },
            Outcome::FuelExhausted,
            Outcome::Timeout,
            Outcome::MemoryLimit,
            Outcome::HandleLimit,
            Outcome::TensorMemoryLimit,
            Outcome::ComputeBudgetExhausted,
            Outcome::StepLimit,
            Outcome::InvalidResult { reason: "r".into() },
            Outcome::InvalidModule { reason: "r".into() },
            Outcome::ImportDenied { import: "i".into() },
        ]
    }

    /// Literal on purpose: a renamed code must fail here, not just follow
    /// into [`Outcome::CODES`].
    #[test]
    fn outcome_codes_are_stable() {
        let codes: Vec<&str> = all().iter().map(Outcome::code).collect();
        assert_eq!(
            codes,
            [
                "completed",
                "guest-error",
                "trap",
                "fuel-exhausted",
                "timeout",
                "memory-limit",
                "handle-limit",
                "tensor-memory-limit",
                "compute-budget-exhausted",
                "step-limit",
                "invalid-result",
                "invalid-module",
                "import-denied",
            ]
        );
    }

    #[test]
    fn codes_list_every_variant_in_order() {
        let all = all();
        let places: Vec<usize> = all.iter().map(place).collect();
        assert_eq!(places, (0..all.len()).collect::<Vec<_>>());
        let codes: Vec<&str> = all.iter().map(Outcome::code).collect();
        assert_eq!(codes, Outcome::CODES);
    }

    #[test]
    fn serialized_code_matches_code() {
        for o in all() {
            let v = serde_json::to_value(&o).unwrap();
            assert_eq!(v["code"], o.code(), "{o:?}");
            assert!(!o.message().contains('\n'));
        }
    }

    #[test]
    fn guest_text_is_not_the_headline() {
        let o = Outcome::GuestError {
            message: "I am the host now".into(),
        };
        assert!(!o.message().contains("host now"));
    }

    #[test]
    fn classifies_typed_errors_by_type() {
        let e = wasmtime::Error::new(HostTrap::Timeout).context("while doing things");
        assert_eq!(classify_call(&e), Outcome::Timeout);
        let e = wasmtime::Error::new(GrowthRefused::Table {
            desired: 5,
            limit: 4,
        });
        assert_eq!(classify_call(&e), Outcome::MemoryLimit);
        assert_eq!(
            classify_call(&wasmtime::Error::new(wasmtime::Trap::OutOfFuel)),
            Outcome::FuelExhausted
        );
        assert_eq!(
            classify_call(&wasmtime::Error::new(wasmtime::Trap::Interrupt)),
            Outcome::Timeout
        );
        assert_eq!(
            classify_call(&wasmtime::Error::new(
                wasmtime::Trap::UnreachableCodeReached
            )),
            Outcome::Trap {
                kind: "unreachable-code-reached".into(),
                backtrace: String::new()
            }
        );
        assert_eq!(
            classify_call(&wasmtime::Error::new(I32Exit(3))).code(),
            "trap"
        );
        assert_eq!(
            classify_call(&wasmtime::Error::new(ResourceTableError::Full)),
            Outcome::HandleLimit
        );
        // A message that merely says "out of fuel" is not fuel exhaustion.
        let e = wasmtime::Error::msg("all fuel consumed by WebAssembly");
        assert_eq!(classify_call(&e).code(), "trap");
    }
}
