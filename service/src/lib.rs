//! The w2s evaluation service: an HTTP API to submit strategies, a durable
//! job queue in SQLite or PostgreSQL, workers, and a leaderboard.
//!
//! Design decisions:
//! - **No guest code in this process.** A worker runs each evaluation as a
//!   child process, `w2s eval WASM --task DIR --json OUT`, in its own process
//!   group (killed whole on timeout): its own sandbox, and the scorer in its
//!   own process as always. This crate depends on neither `w2s-host` nor
//!   `w2s-scorer` (tests/all/crate_graph.rs).
//! - **One code path for both databases** through sqlx's `Any` driver, one
//!   set of portable migrations (`service/migrations/`); the only SQL that
//!   differs is the claim's `FOR UPDATE SKIP LOCKED` on PostgreSQL (src/db.rs).
//! - **Durability.** A submission (its row and its wasm, stored in the row)
//!   is committed before the 201; SQLite runs in WAL mode with
//!   `synchronous = FULL`.
//! - **Exactly once.** A claim takes a lease (worker id, expiry, and the
//!   attempt number as its token), renewed while the evaluation runs; an
//!   expired lease returns the job to the queue; completion is a conditional
//!   UPDATE on the lease, so a late zombie changes nothing. A server that
//!   starts expires at once the leases of dead processes of its machine.
//! - **The leaderboard is written from the scorer's figures** in the report,
//!   in the transaction that completes the job (src/summary.rs).

mod api;
mod db;
mod error;
mod metrics;
mod serve;
mod store;
mod summary;
mod tasks;
mod tokens;
mod worker;

pub use api::{OPENAPI, ROUTES};
pub use error::Error;
pub use serve::{ServeConfig, serve, work};
pub use tokens::Quota;
pub use worker::WorkerConfig;

/// `w2s token create`: creates (or updates the quota of) submitter `name`
/// in the database at `db_url` and returns a new bearer token for it.
pub fn create_token(db_url: &str, name: &str, quota: Quota) -> Result<String, Error> {
    serve::runtime()?.block_on(async {
        let db = db::Db::connect(db_url).await?;
        tokens::create_token(&db, name, quota).await
    })
}
