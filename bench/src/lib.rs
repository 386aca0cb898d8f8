//! The part of `w2s-bench` that the `w2s` binary links: `w2s bench
//! methods` ([`methods`]), every method plugin on every task family,
//! written up as `docs/RESULTS.md`.
//!
//! It runs each evaluation through the evaluation library (`w2s-eval`), so
//! it is a program embedding the evaluator like any research harness; it
//! is application code, hence `anyhow`. The performance benchmarks are the
//! `w2s-bench` binary (`src/main.rs`).

pub mod methods;
