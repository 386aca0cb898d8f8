//! The job queue: claim with a lease, renew it, complete exactly once,
//! return expired leases to the queue.
//!
//! A claim increments `attempts`, and `(id, attempts, lease_owner)` is the
//! lease: heartbeats and completion are conditional UPDATEs on it, so an
//! evaluation that finishes after its lease was taken over (a zombie from a
//! killed server) changes nothing.

use sqlx::Row;

use super::status;
use crate::db::{Backend, Db, now_ms};

/// A claimed job: what a worker needs to run it.
pub(crate) struct Claim {
    pub(crate) id: String,
    pub(crate) attempt: i64,
    pub(crate) task: String,
    pub(crate) suite: bool,
    pub(crate) config: String,
    pub(crate) wasm: Vec<u8>,
}

/// After this many claims a job whose lease keeps expiring is failed rather
/// than queued again (it may be what kills its workers).
pub(crate) const MAX_ATTEMPTS: i64 = 3;

/// Claims the oldest queued job for `worker`, with a lease until
/// `now + lease_ms`. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so racing workers
/// take different rows; SQLite: the one UPDATE statement is a write
/// transaction, so claims are serialized by its write lock.
pub(crate) async fn claim(
    db: &Db,
    worker: &str,
    lease_ms: i64,
) -> Result<Option<Claim>, sqlx::Error> {
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let now = now_ms();
    let sql = format!(
        "UPDATE submissions SET status = $1, attempts = attempts + 1, lease_owner = $2, \
         lease_until_ms = $3, started_ms = $4 \
         WHERE status = $5 AND id = (SELECT id FROM submissions WHERE status = $5 \
         ORDER BY created_ms, id LIMIT 1{lock}) \
         RETURNING id, attempts, task, suite, config, wasm"
    );
    let Some(r) = sqlx::query(&sql)
        .bind(status::RUNNING)
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .bind(status::QUEUED)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Claim {
        id: r.try_get(0)?,
        attempt: r.try_get(1)?,
        task: r.try_get(2)?,
        suite: r.try_get::<i64, _>(3)? != 0,
        config: r.try_get(4)?,
        wasm: r.try_get(5)?,
    }))
}

/// Extends the lease; `false` when it is no longer this worker's.
pub(crate) async fn heartbeat(
    db: &Db,
    c: &Claim,
    worker: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE submissions SET lease_until_ms = $1 \
         WHERE id = $2 AND attempts = $3 AND lease_owner = $4 AND status = $5",
    )
    .bind(now_ms() + lease_ms)
    .bind(&c.id)
    .bind(c.attempt)
    .bind(worker)
    .bind(status::RUNNING)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// How a job ended.
pub(crate) enum Outcome {
    /// `w2s eval` wrote a report: the report, its summary, and the
    /// leaderboard row when the report is rankable.
    Done {
        report: String,
        summary: String,
        entry: Option<super::leaderboard::Entry>,
    },
    /// No report: why.
    Failed(String),
}

/// Completes the job if the lease is still this worker's; `false` when it
/// is not (the job was taken over, and nothing is written).
pub(crate) async fn complete(
    db: &Db,
    c: &Claim,
    worker: &str,
    outcome: &Outcome,
) -> Result<bool, sqlx::Error> {
    let (st, report, summary, error) = match outcome {
        Outcome::Done {
            report, summary, ..
        } => (status::DONE, Some(report), Some(summary), None),
        Outcome::Failed(e) => (status::FAILED, None, None, Some(e)),
    };
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let r = sqlx::query(
        "UPDATE submissions SET status = $1, report = $2, summary = $3, error = $4, \
         finished_ms = $5, lease_owner = NULL, lease_until_ms = NULL \
         WHERE id = $6 AND attempts = $7 AND lease_owner = $8 AND status = $9",
    )
    .bind(st)
    .bind(report)
    .bind(summary)
    .bind(error)
    .bind(now)
    .bind(&c.id)
    .bind(c.attempt)
    .bind(worker)
    .bind(status::RUNNING)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    if let Outcome::Done { entry: Some(e), .. } = outcome {
        super::leaderboard::insert(&mut tx, &c.id, e, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Returns jobs whose lease expired to the queue, or fails them after
/// [`MAX_ATTEMPTS`] claims. Returns how many were requeued.
pub(crate) async fn requeue_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE submissions SET status = $1, finished_ms = $2, lease_owner = NULL, \
         lease_until_ms = NULL, error = $3 \
         WHERE status = $4 AND lease_until_ms < $2 AND attempts >= $5",
    )
    .bind(status::FAILED)
    .bind(now)
    .bind(format!(
        "the evaluation's lease expired {MAX_ATTEMPTS} times (worker killed or lost)"
    ))
    .bind(status::RUNNING)
    .bind(MAX_ATTEMPTS)
    .execute(&db.pool)
    .await?;
    let r = sqlx::query(
        "UPDATE submissions SET status = $1, lease_owner = NULL, lease_until_ms = NULL \
         WHERE status = $2 AND lease_until_ms < $3",
    )
    .bind(status::QUEUED)
    .bind(status::RUNNING)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected())
}

/// Expires at once the leases held by workers of this machine whose process
/// is gone (`is_dead` decides from the lease owner's id), so that a
/// restarted server need not wait for them to time out. Returns how many.
pub(crate) async fn expire_dead(
    db: &Db,
    is_dead: impl Fn(&str) -> bool,
) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query("SELECT id, attempts, lease_owner FROM submissions WHERE status = $1")
        .bind(status::RUNNING)
        .fetch_all(&db.pool)
        .await?;
    let mut n = 0;
    for r in rows {
        let owner: Option<String> = r.try_get(2)?;
        if !owner.as_deref().is_some_and(&is_dead) {
            continue;
        }
        let id: String = r.try_get(0)?;
        let attempt: i64 = r.try_get(1)?;
        n += sqlx::query(
            "UPDATE submissions SET lease_until_ms = 0 \
             WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND status = $4",
        )
        .bind(id)
        .bind(attempt)
        .bind(owner)
        .bind(status::RUNNING)
        .execute(&db.pool)
        .await?
        .rows_affected();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::submissions::{self, NewSubmission};
    use crate::tokens::{self, Quota};

    /// A fresh SQLite database holding one queued submission.
    async fn one_job(dir: &std::path::Path) -> (Db, String) {
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .unwrap();
        let token = tokens::create_token(&db, "t", Quota::default())
            .await
            .unwrap();
        let who = tokens::authenticate(&db, &token).await.unwrap().unwrap();
        let sub = NewSubmission {
            name: "n".into(),
            task: "default".into(),
            suite: false,
            config: String::new(),
            wasm: b"\0asm".to_vec(),
            wasm_sha256: "00".into(),
        };
        let Ok(id) = submissions::insert(&db, &who, &sub).await else {
            panic!("insert refused");
        };
        (db, id)
    }

    fn failed() -> Outcome {
        Outcome::Failed("x".into())
    }

    #[test]
    fn a_job_taken_over_completes_once_by_its_new_owner() {
        let dir = tempfile::tempdir().unwrap();
        crate::serve::runtime().unwrap().block_on(async {
            let (db, id) = one_job(dir.path()).await;
            // Worker A's lease expires at once (a lost or killed worker).
            let a = claim(&db, "A", -1).await.unwrap().unwrap();
            assert_eq!(
                (a.id.as_str(), a.attempt, a.wasm.as_slice()),
                (id.as_str(), 1, &b"\0asm"[..])
            );
            assert!(
                claim(&db, "B", 60_000).await.unwrap().is_none(),
                "claimed twice"
            );
            assert_eq!(requeue_expired(&db).await.unwrap(), 1);
            let b = claim(&db, "B", 60_000).await.unwrap().unwrap();
            assert_eq!(b.attempt, 2);
            // A, late: its heartbeat and its result are refused.
            assert!(!heartbeat(&db, &a, "A", 60_000).await.unwrap());
            assert!(!complete(&db, &a, "A", &failed()).await.unwrap());
            assert!(heartbeat(&db, &b, "B", 60_000).await.unwrap());
            assert!(complete(&db, &b, "B", &failed()).await.unwrap());
            assert!(
                !complete(&db, &b, "B", &failed()).await.unwrap(),
                "completed twice"
            );
            let row = submissions::get(&db, &id).await.unwrap().unwrap();
            assert_eq!((row.status.as_str(), row.attempts), ("failed", 2));
        });
    }

    #[test]
    fn a_job_whose_lease_keeps_expiring_fails_after_max_attempts() {
        let dir = tempfile::tempdir().unwrap();
        crate::serve::runtime().unwrap().block_on(async {
            let (db, id) = one_job(dir.path()).await;
            for attempt in 1..=MAX_ATTEMPTS {
                let c = claim(&db, "A", -1).await.unwrap().unwrap();
                assert_eq!(c.attempt, attempt);
                requeue_expired(&db).await.unwrap();
            }
            assert!(claim(&db, "A", 60_000).await.unwrap().is_none());
            let row = submissions::get(&db, &id).await.unwrap().unwrap();
            assert_eq!(row.status, "failed");
            assert!(row.error.unwrap().contains("lease expired"));
        });
    }

    #[test]
    fn dead_owners_of_this_machine_lose_their_lease_at_once() {
        let dir = tempfile::tempdir().unwrap();
        crate::serve::runtime().unwrap().block_on(async {
            let (db, _) = one_job(dir.path()).await;
            claim(&db, "gone", 60_000).await.unwrap().unwrap();
            assert_eq!(expire_dead(&db, |o| o == "alive").await.unwrap(), 0);
            assert_eq!(expire_dead(&db, |o| o == "gone").await.unwrap(), 1);
            assert_eq!(requeue_expired(&db).await.unwrap(), 1);
            assert_eq!(claim(&db, "B", 60_000).await.unwrap().unwrap().attempt, 2);
        });
    }
}
