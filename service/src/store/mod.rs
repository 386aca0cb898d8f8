//! Everything the service keeps in the database: submissions (which are
//! also the job queue), the leaderboard, counts for the metrics.

pub(crate) mod jobs;
pub(crate) mod leaderboard;
pub(crate) mod submissions;

/// Job states, as stored in `submissions.status`.
pub(crate) mod status {
    /// Waiting for a worker.
    pub(crate) const QUEUED: &str = "queued";
    /// Claimed by a worker whose lease is current.
    pub(crate) const RUNNING: &str = "running";
    /// Evaluated; the report is stored.
    pub(crate) const DONE: &str = "done";
    /// Could not be evaluated; `error` says why.
    pub(crate) const FAILED: &str = "failed";
    /// All of them, in the order the metrics list them.
    pub(crate) const ALL: [&str; 4] = [QUEUED, RUNNING, DONE, FAILED];
}
