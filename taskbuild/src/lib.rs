//! `w2s task build`: task bundles from real language models and real
//! datasets.
//!
//! The published weak-to-strong settings train on real models' hidden
//! states; this crate builds the same kind of task as a w2s bundle (format
//! v1, `docs/TASK_FORMAT.md`). Strong features are the pooled hidden states
//! of the strong model at one layer (default: the middle, as EleutherAI's
//! w2s); the weak teacher is a logistic probe on the weak model's features,
//! trained on the labeled split ([`probe`]); everything that shaped the
//! bundle goes into the manifest's provenance ([`build`]).
//!
//! - [`dataset`]: the AAR's chat, math and code JSONL directories (fixed
//!   split files; the test split's subset names go to `heldout/` only)
//!   and a generic `{"text", "label"}` JSONL with a seeded split rule.
//! - [`split`]: the generic format's seeded split rule.
//! - [`cache`]: pooled features keyed by model and dataset hashes, layer,
//!   pooling and extraction settings, verified by hash before use, so a
//!   second build that changes only the probe runs no model.
//! - [`probe`]: the weak probe and feature standardization.
//! - [`card`]: the task card (weak teacher against a linear-probe
//!   ceiling: can the task rank methods?).
//! - [`build`]: the pipeline, writing through a temporary directory.
//!
//! Ground truth is read here, as it must be (the probe's training labels,
//! the held-out labels), so this crate runs only in the `w2s task build`
//! process, never in one that runs guest code.

pub mod build;
pub mod cache;
pub mod card;
pub mod dataset;
pub mod error;
pub mod lm_part;
pub mod probe;
pub mod split;

pub use build::{BuildConfig, BuildSummary, FeatureScaling, build};
pub use error::{BuildError, Result};
