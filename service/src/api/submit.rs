//! `POST /v1/submissions`: authenticate, read the multipart body, check it,
//! store it durably, answer 201.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};
use crate::store::submissions::{self, NewSubmission, Refusal};
use crate::tokens::{self, Submitter};

/// Longest submission name, in bytes.
const MAX_NAME: usize = 128;
/// Longest strategy config string, in bytes.
const MAX_CONFIG: usize = 4096;
/// Largest `metadata` part, in bytes.
const MAX_METADATA: usize = 16 * 1024;

/// The `metadata` part.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
    #[serde(default = "default_task")]
    task: String,
    #[serde(default)]
    suite: bool,
    #[serde(default)]
    config: String,
}

fn default_task() -> String {
    "default".into()
}

/// The submitter named by the `Authorization: Bearer` header, or 401.
async fn submitter(state: &AppState, headers: &HeaderMap) -> Result<Submitter, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing Authorization: Bearer TOKEN header"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header is not `Bearer TOKEN`"))?;
    tokens::authenticate(&state.db, token)
        .await?
        .ok_or_else(|| unauthorized("unknown token"))
}

/// Maps a multipart read error to 413 (body limit) or 400 (malformed).
fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the server's limit",
        )
    } else {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Reads the `wasm` and `metadata` parts; any other part is an error.
async fn read_parts(mut form: Multipart, max_wasm: usize) -> Result<(Vec<u8>, Metadata), ApiError> {
    let (mut wasm, mut meta) = (None, None);
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        match name.as_str() {
            "wasm" if wasm.is_none() => {
                if bytes.len() > max_wasm {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "wasm_too_large",
                        format!(
                            "the wasm is {} bytes; your quota allows {max_wasm}",
                            bytes.len()
                        ),
                    ));
                }
                wasm = Some(bytes.to_vec());
            }
            "metadata" if meta.is_none() => {
                if bytes.len() > MAX_METADATA {
                    return Err(ApiError::bad_request(format!(
                        "the metadata part is over {MAX_METADATA} bytes"
                    )));
                }
                let m: Metadata = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::bad_request(format!("invalid metadata JSON: {e}")))?;
                meta = Some(m);
            }
            "wasm" | "metadata" => {
                return Err(ApiError::bad_request(format!("part {name:?} given twice")));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected part {other:?}: expected `wasm` and `metadata`"
                )));
            }
        }
    }
    let wasm =
        wasm.ok_or_else(|| ApiError::bad_request("missing part `wasm` (the component bytes)"))?;
    let meta = meta.ok_or_else(|| ApiError::bad_request("missing part `metadata` (JSON)"))?;
    Ok((wasm, meta))
}

/// Checks the metadata and the wasm; returns what to store.
fn check(state: &AppState, wasm: Vec<u8>, m: Metadata) -> Result<NewSubmission, ApiError> {
    if m.name.trim().is_empty() || m.name.len() > MAX_NAME || m.name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "metadata.name must be 1 to {MAX_NAME} bytes of printable text"
        )));
    }
    if m.config.len() > MAX_CONFIG {
        return Err(ApiError::bad_request(format!(
            "metadata.config is over {MAX_CONFIG} bytes"
        )));
    }
    if !wasm.starts_with(b"\0asm") {
        return Err(ApiError::bad_request(
            "the `wasm` part is not a WebAssembly binary",
        ));
    }
    let task = if m.suite {
        if m.task != "default" {
            return Err(ApiError::bad_request(
                "metadata.suite and metadata.task exclude each other",
            ));
        }
        "suite".to_owned()
    } else {
        let known = crate::tasks::task_dir(&state.tasks_dir, &m.task)
            .is_some_and(|d| d.join("task.toml").is_file());
        if !known {
            return Err(ApiError::bad_request(format!(
                "unknown task {:?}: GET /v1/tasks lists them",
                m.task
            )));
        }
        m.task
    };
    Ok(NewSubmission {
        wasm_sha256: hex::encode(Sha256::digest(&wasm)),
        name: m.name,
        task,
        suite: m.suite,
        config: m.config,
        wasm,
    })
}

/// `POST /v1/submissions`.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = submitter(&state, &headers).await?;
    let form =
        form.map_err(|e| ApiError::bad_request(format!("not a multipart/form-data body: {e}")))?;
    let max_wasm = usize::try_from(who.quota.max_wasm_bytes).unwrap_or(0);
    let (wasm, meta) = read_parts(form, max_wasm).await?;
    let sub = check(&state, wasm, meta)?;
    match submissions::insert(&state.db, &who, &sub).await {
        Ok(id) => Ok((
            StatusCode::CREATED,
            Json(json!({"id": id, "status": "queued"})),
        )),
        Err(Refusal::Quota {
            message,
            retry_after_s,
        }) => Err(ApiError::quota(message, retry_after_s)),
        Err(Refusal::Db(e)) => Err(e.into()),
    }
}
