//! End-to-end and adversarial tests across crates, built as one binary.
//!
//! They drive the real `w2s` executable and the real plugins
//! (`plugins/vanilla`, and `plugins/prior-only`, which ignores its teacher),
//! built for wasm32-wasip2 on first use (see [`helpers::plugin`]).

mod bad_input;
mod confine;
mod controls;
mod crate_graph;
mod dashboard;
mod e2e;
mod families;
mod feedback;
mod fuzz;
mod golden_report;
mod heldout_facts;
mod helpers;
mod hostile;
mod hostile_modules;
mod hostile_plugins;
mod hostile_python;
mod isolation;
mod library;
mod lora;
mod mcp;
mod methods;
mod module_graph;
mod native_twin;
mod policy;
mod policy_run;
mod python_twin;
mod real_model;
mod real_task;
mod replay;
mod seeds;
mod service;
mod service_client;
mod service_pg;
mod service_suite;
mod suite;
mod task_card;
mod wit_compat;
