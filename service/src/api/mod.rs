//! The HTTP API (axum): routes, shared state, request counting.

mod dashboard;
mod error;
mod read;
mod submit;
mod time;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

pub(crate) use error::ApiError;

use crate::db::Db;
use crate::metrics::Metrics;

/// The OpenAPI 3 document of this API (hand-written; a test checks that
/// every route is in it).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// What every handler can reach.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) db: Db,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tasks_dir: PathBuf,
    /// Show public-split figures only (and redact private ones).
    pub(crate) competition: bool,
}

/// Every route, as `(method, path)`: what the OpenAPI test checks.
pub const ROUTES: [(&str, &str); 12] = [
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/v1/openapi.json"),
    ("post", "/v1/submissions"),
    ("get", "/v1/submissions/{id}"),
    ("get", "/v1/submissions/{id}/report"),
    ("get", "/v1/leaderboard"),
    ("get", "/v1/tasks"),
    ("get", "/"),
    ("get", "/submissions/{id}"),
    ("get", "/assets/{file}"),
    ("get", "/favicon.ico"),
];

/// The router; `max_body` bounds every request body (413 above it).
pub(crate) fn router(state: AppState, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(read::healthz))
        .route("/metrics", get(read::metrics))
        .route("/v1/openapi.json", get(read::openapi))
        .route("/v1/submissions", post(submit::create))
        .route("/v1/submissions/{id}", get(read::submission))
        .route("/v1/submissions/{id}/report", get(read::report))
        .route("/v1/leaderboard", get(read::leaderboard))
        .route("/v1/tasks", get(read::tasks))
        .route("/", get(dashboard::index))
        .route("/submissions/{id}", get(dashboard::submission))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/favicon.ico", get(dashboard::favicon))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Counts each answered request by route pattern and status.
async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let resp = next.run(req).await;
    state.metrics.request(&route, resp.status().as_u16());
    resp
}
