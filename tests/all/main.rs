//! End-to-end and adversarial tests across crates, built as one binary.
//!
//! They drive the real `w2s` executable and the real `plugins/vanilla`
//! component (built for wasm32-wasip2 on first use, see
//! [`helpers::plugin`]).

mod bad_input;
mod crate_graph;
mod e2e;
mod fuzz;
mod helpers;
mod hostile;
mod hostile_modules;
mod hostile_plugins;
mod isolation;
mod policy;
mod policy_run;
