//! The read-only endpoints: a submission, its report, the leaderboard,
//! the tasks, health and metrics. None needs a token.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::time::rfc3339;
use super::{ApiError, AppState};
use crate::store::{leaderboard, status, submissions};
use crate::summary;

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /v1/submissions/{id}`.
pub(crate) async fn submission(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = submissions::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no submission {id:?}")))?;
    let summary = row
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .map_or(Value::Null, |s| {
            summary::shown_summary(&s, state.competition)
        });
    Ok(Json(json!({
        "id": row.id,
        "name": row.name,
        "submitter": row.submitter,
        "task": row.task,
        "status": row.status,
        "created_at": rfc3339(row.created_ms),
        "started_at": row.started_ms.map(rfc3339),
        "finished_at": row.finished_ms.map(rfc3339),
        "attempts": row.attempts,
        "error": row.error,
        "summary": summary,
    })))
}

/// `GET /v1/submissions/{id}/report`: the report as `w2s eval --json` wrote
/// it; in competition mode without any private-split figure.
pub(crate) async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let text = submissions::report(&state.db, &id).await?.ok_or_else(|| {
        ApiError::not_found(format!("no report for {id:?}: unknown, or not done yet"))
    })?;
    if !state.competition {
        return Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response());
    }
    let mut value: Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal("reading a stored report", e))?;
    summary::redact_private(&mut value);
    Ok(Json(value).into_response())
}

/// The query of `GET /v1/leaderboard`.
#[derive(Deserialize)]
pub(crate) struct BoardQuery {
    task: Option<String>,
}

/// `GET /v1/leaderboard?task=NAME` (default task: `default`).
pub(crate) async fn leaderboard(
    State(state): State<AppState>,
    query: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
    let task = q.task.unwrap_or_else(|| "default".into());
    let rows = leaderboard::ranked(&state.db, &task, state.competition).await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "rank": i + 1,
                "submission_id": r.submission_id,
                "name": r.name,
                "submitter": r.submitter,
                "pgr_mean": r.pgr_mean,
                "pgr_se": r.pgr_se,
                "student_acc_mean": r.student_acc_mean,
                "finished_at": rfc3339(r.finished_ms),
            })
        })
        .collect();
    let split = if state.competition {
        "public"
    } else {
        "private"
    };
    Ok(Json(
        json!({"task": task, "split": split, "entries": entries}),
    ))
}

/// `GET /v1/tasks`.
pub(crate) async fn tasks(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"tasks": crate::tasks::list(&state.tasks_dir)}))
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let counts = submissions::counts(&state.db).await?;
    let jobs: Vec<(&str, i64)> = status::ALL.iter().copied().zip(counts).collect();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&jobs),
    )
        .into_response())
}

/// `GET /v1/openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::api::OPENAPI,
    )
        .into_response()
}
