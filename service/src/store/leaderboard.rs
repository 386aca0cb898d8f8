//! Leaderboard rows: written with a job's completion, from the scorer's
//! figures in the report (src/summary.rs), read ranked.

use sqlx::{Any, Row, Transaction};

use crate::db::Db;

/// One leaderboard row's figures, taken from the report's `score`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) task: String,
    pub(crate) name: String,
    pub(crate) submitter: String,
    /// PGR mean and student accuracy mean on the private split.
    pub(crate) private: [f64; 2],
    /// The PGR's standard error on the private split (`None` with one seed).
    pub(crate) private_se: Option<f64>,
    /// PGR mean and student accuracy mean on the public split.
    pub(crate) public: [f64; 2],
    /// The PGR's standard error on the public split.
    pub(crate) public_se: Option<f64>,
}

/// Inserts the row of submission `id` (inside the completing transaction).
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    e: &Entry,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO leaderboard (submission_id, task, name, submitter, private_pgr_mean, \
         private_pgr_se, private_student_acc, public_pgr_mean, public_pgr_se, \
         public_student_acc, finished_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(&e.task)
    .bind(&e.name)
    .bind(&e.submitter)
    .bind(e.private[0])
    .bind(e.private_se)
    .bind(e.private[1])
    .bind(e.public[0])
    .bind(e.public_se)
    .bind(e.public[1])
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A ranked row as read back.
pub(crate) struct Ranked {
    pub(crate) submission_id: String,
    pub(crate) name: String,
    pub(crate) submitter: String,
    pub(crate) pgr_mean: f64,
    pub(crate) pgr_se: Option<f64>,
    pub(crate) student_acc_mean: f64,
    pub(crate) finished_ms: i64,
}

/// The rows of `task`, best PGR mean first (ties: earlier first), on the
/// private split or, with `public`, on the public one.
pub(crate) async fn ranked(db: &Db, task: &str, public: bool) -> Result<Vec<Ranked>, sqlx::Error> {
    let split = if public { "public" } else { "private" };
    let sql = format!(
        "SELECT submission_id, name, submitter, {split}_pgr_mean, {split}_pgr_se, \
         {split}_student_acc, finished_ms FROM leaderboard WHERE task = $1 \
         ORDER BY {split}_pgr_mean DESC, finished_ms, submission_id"
    );
    sqlx::query(&sql)
        .bind(task)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Ranked {
                submission_id: r.try_get(0)?,
                name: r.try_get(1)?,
                submitter: r.try_get(2)?,
                pgr_mean: r.try_get(3)?,
                pgr_se: r.try_get(4)?,
                student_acc_mean: r.try_get(5)?,
                finished_ms: r.try_get(6)?,
            })
        })
        .collect()
}
