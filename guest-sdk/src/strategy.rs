//! The `Strategy` trait and the glue that exports it as the component's
//! `run` function.

use std::marker::PhantomData;

use crate::bindings;
use crate::student::Student;

/// The error a strategy returns: anything that displays. Its text goes back
/// to the host as the `err` of `run`, which keeps it as data (truncated), so
/// keep it short. `?` converts [`crate::Error`], [`crate::ConfigError`],
/// `String` and `&str` into it.
pub type StrategyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A weak-to-strong training strategy: train a student from the weak
/// teacher's labels and return the one the host must score. Export it with
/// [`crate::export_strategy!`].
pub trait Strategy {
    /// Runs the strategy. `config` is the evaluator's option string for this
    /// strategy (empty when none were given; see [`crate::Config`]).
    fn run(config: &str) -> Result<Student, StrategyError>;
}

/// Adapts a [`Strategy`] to the generated `Guest` trait. Used by
/// [`crate::export_strategy!`]; not meant to be named directly.
#[doc(hidden)]
pub struct Export<S>(PhantomData<S>);

impl<S: Strategy> bindings::Guest for Export<S> {
    fn run(config: String) -> Result<bindings::Student, String> {
        S::run(&config)
            .map(Student::into_handle)
            .map_err(|e| e.to_string())
    }
}

/// Exports a type implementing [`Strategy`] as this component's `run`
/// function. Use it once, in the plugin crate (a `cdylib`):
///
/// ```ignore
/// struct MyStrategy;
/// impl w2s_guest_sdk::Strategy for MyStrategy { /* ... */ }
/// w2s_guest_sdk::export_strategy!(MyStrategy);
/// ```
#[macro_export]
macro_rules! export_strategy {
    ($strategy:ty) => {
        type __W2sExportedStrategy = $crate::Export<$strategy>;
        $crate::bindings::export!(__W2sExportedStrategy with_types_in $crate::bindings);
    };
}
