//! The web dashboard: static files from `service/dashboard/`, embedded at
//! build time (no Node step; `build.rs` lists the scripts and styles),
//! served as they are.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The pages' Content-Security-Policy, also sent as a header (the pages
/// carry it in a `<meta>` too): same-origin scripts, styles and fetches
/// only, no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'self'";

fn html(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the leaderboard page.
pub(crate) async fn index() -> Response {
    html(include_str!("../../dashboard/index.html"))
}

/// `GET /submissions/{id}`: one page for every id (its script reads the id
/// from the address).
pub(crate) async fn submission() -> Response {
    html(include_str!("../../dashboard/submission.html"))
}

/// `GET /assets/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, ctype, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::not_found(format!("no asset {file:?}")))?;
    Ok(([(header::CONTENT_TYPE, *ctype)], *body).into_response())
}

/// `GET /favicon.ico`: none (204), so browsers stop asking.
pub(crate) async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}
