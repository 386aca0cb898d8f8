//! Accepting a submission (quotas checked in the same transaction) and
//! reading one back.

use sqlx::Row;

use super::status;
use crate::db::{Db, now_ms};
use crate::tokens::Submitter;

/// A submission as accepted by the API, before it is stored.
pub(crate) struct NewSubmission {
    pub(crate) name: String,
    pub(crate) task: String,
    pub(crate) suite: bool,
    pub(crate) config: String,
    pub(crate) wasm: Vec<u8>,
    pub(crate) wasm_sha256: String,
}

/// Why a submission was not stored.
pub(crate) enum Refusal {
    /// A quota is used up; retry after this many seconds.
    Quota { message: String, retry_after_s: u64 },
    /// The database failed.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Db(e)
    }
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// When a concurrent-jobs quota is used up, the client is told to retry
/// after this long: a guess, since nobody knows when a running job ends.
const CONCURRENT_RETRY_S: u64 = 30;

/// A new random submission id: 16 random bytes, hex.
fn new_id() -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| sqlx::Error::Protocol(format!("OS random source: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Stores `sub` as a queued job, after checking `who`'s quotas in the same
/// transaction, and returns its id. The transaction first writes the
/// submitter's row, which takes SQLite's write lock and PostgreSQL's row
/// lock, so that two submissions of one submitter cannot both pass the check.
/// The commit is durable (SQLite `synchronous = FULL`) before this returns.
pub(crate) async fn insert(
    db: &Db,
    who: &Submitter,
    sub: &NewSubmission,
) -> Result<String, Refusal> {
    let id = new_id()?;
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE submitters SET name = name WHERE name = $1")
        .bind(&who.name)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "SELECT COUNT(*), MIN(created_ms) FROM submissions WHERE submitter = $1 AND created_ms > $2",
    )
    .bind(&who.name)
    .bind(now - DAY_MS)
    .fetch_one(&mut *tx)
    .await?;
    let today: i64 = row.try_get(0)?;
    let oldest: Option<i64> = row.try_get(1)?;
    if today >= who.quota.per_day {
        let wait_ms = oldest.map_or(DAY_MS, |t| t + DAY_MS - now).max(1000);
        return Err(Refusal::Quota {
            message: format!(
                "quota: {} submissions per 24 hours, all used",
                who.quota.per_day
            ),
            retry_after_s: u64::try_from(wait_ms).unwrap_or(1000).div_ceil(1000),
        });
    }
    let active: i64 =
        sqlx::query("SELECT COUNT(*) FROM submissions WHERE submitter = $1 AND status IN ($2, $3)")
            .bind(&who.name)
            .bind(status::QUEUED)
            .bind(status::RUNNING)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
    if active >= who.quota.concurrent {
        return Err(Refusal::Quota {
            message: format!(
                "quota: {} submissions queued or running at once, all used",
                who.quota.concurrent
            ),
            retry_after_s: CONCURRENT_RETRY_S,
        });
    }
    sqlx::query(
        "INSERT INTO submissions (id, submitter, name, task, suite, config, wasm, wasm_sha256, \
         status, attempts, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)",
    )
    .bind(&id)
    .bind(&who.name)
    .bind(&sub.name)
    .bind(&sub.task)
    .bind(i64::from(sub.suite))
    .bind(&sub.config)
    .bind(&sub.wasm)
    .bind(&sub.wasm_sha256)
    .bind(status::QUEUED)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A stored submission, without its wasm and report.
pub(crate) struct SubmissionRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) submitter: String,
    pub(crate) task: String,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) created_ms: i64,
    pub(crate) started_ms: Option<i64>,
    pub(crate) finished_ms: Option<i64>,
    pub(crate) error: Option<String>,
    pub(crate) summary: Option<String>,
}

/// Reads submission `id`, if it exists.
pub(crate) async fn get(db: &Db, id: &str) -> Result<Option<SubmissionRow>, sqlx::Error> {
    let Some(r) = sqlx::query(
        "SELECT id, name, submitter, task, status, attempts, created_ms, started_ms, \
         finished_ms, error, summary FROM submissions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(SubmissionRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        submitter: r.try_get(2)?,
        task: r.try_get(3)?,
        status: r.try_get(4)?,
        attempts: r.try_get(5)?,
        created_ms: r.try_get(6)?,
        started_ms: r.try_get(7)?,
        finished_ms: r.try_get(8)?,
        error: r.try_get(9)?,
        summary: r.try_get(10)?,
    }))
}

/// The stored report of submission `id` (`None` until it is done).
pub(crate) async fn report(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT report FROM submissions WHERE id = $1 AND status = $2")
        .bind(id)
        .bind(status::DONE)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => None,
    })
}

/// How many submissions are in each state, in [`status::ALL`] order.
pub(crate) async fn counts(db: &Db) -> Result<[i64; 4], sqlx::Error> {
    let mut out = [0i64; 4];
    for r in sqlx::query("SELECT status, COUNT(*) FROM submissions GROUP BY status")
        .fetch_all(&db.pool)
        .await?
    {
        let s: String = r.try_get(0)?;
        if let Some(i) = status::ALL.iter().position(|x| *x == s) {
            out[i] = r.try_get(1)?;
        }
    }
    Ok(out)
}
