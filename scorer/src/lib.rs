//! Held-out evaluation for w2s.
//!
//! The scorer owns everything a strategy must never see: the pool's ground
//! truth and the test split. It runs in its own process (`w2s score`,
//! started by `w2s eval` as a child), reads the student checkpoint that the
//! sandboxed run wrote, and computes:
//!
//! - `weak_acc`: the weak teacher's test accuracy, from its stored test
//!   probabilities (deterministic: one figure);
//! - `ceiling_acc`: the mean test accuracy of the reference recipe trained
//!   on the pool's ground truth, over seeds the scorer derives itself
//!   (cached in the bundle, keyed and checksummed: see [`baseline`]);
//! - `student_acc`: the student's test accuracy, from test predictions the
//!   scorer computes from the checkpoint, never from anything the guest
//!   reported;
//! - PGR = (student_acc - weak_acc) / (ceiling_acc - weak_acc).
//!
//! Every figure is computed on each of the two parts of the test split
//! ([`splits`]): the public part, whose figures may be shown to submitters
//! (coarsely), and the private part, which decides rankings. One call scores
//! every student of an evaluation ([`score_checkpoints`]), so the held-out
//! data is verified and the baselines are loaded once. The verdict's types
//! ([`ScoreSet`] and the rest) are those of the plain-serde crate
//! `w2s-verdict`, which the evaluation library reads without linking this
//! crate; summaries over seeds are the library's (`w2s_eval::stats`).
//! A bundle whose test split has named subsets gets every figure per subset
//! too ([`subsets`]), next to the overall one.
//!
//! This crate depends on `train` and never on `host`; CI checks both ways.

pub mod baseline;
pub mod check;
pub mod error;
pub mod heldout;
pub mod lora;
pub mod score;
pub mod splits;
pub mod subsets;

pub use error::ScorerError;
pub use score::{PartScore, ScoreSet, StudentScore, score_checkpoints};
