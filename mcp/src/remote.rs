//! Remote mode: a client of a `w2s serve`, with a submitter's token. The
//! server enforces the quotas and chooses the seeds; this side forwards
//! only what an agent may see: the `feedback` section of a report, the
//! public parts of a report, leaderboard ranks (with figures only when the
//! server shows the public split).

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::{Endpoint, multipart};
use crate::outcome::Evaluated;

/// How often a running submission's status is polled.
const POLL: Duration = Duration::from_millis(500);

/// A service and the submitter's token.
#[derive(Debug, Clone)]
pub struct Remote {
    endpoint: Endpoint,
    token: String,
}

impl Remote {
    /// A client of the service at `url` (`http://HOST:PORT`).
    pub fn new(url: &str, token: String) -> Result<Self> {
        Ok(Self {
            endpoint: Endpoint::parse(url)?,
            token: token.trim().to_owned(),
        })
    }

    /// GET `path`; a non-2xx answer is [`Error::Server`].
    async fn get(&self, path: &str) -> Result<Value> {
        let (status, body) = self.endpoint.request("GET", path, &[], b"").await?;
        checked(status, body)
    }

    /// Submits `wasm` for evaluation on `task` with `config`.
    pub async fn submit(&self, wasm: &Path, name: &str, task: &str, config: &str) -> Result<Value> {
        let bytes = std::fs::read(wasm).map_err(|e| Error::io("cannot read", wasm, e))?;
        let metadata = json!({"name": name, "task": task, "config": config}).to_string();
        let (boundary, body) = multipart(&[
            ("metadata", None, "application/json", metadata.as_bytes()),
            ("wasm", Some("strategy.wasm"), "application/wasm", &bytes),
        ]);
        let headers = [
            ("Authorization", format!("Bearer {}", self.token)),
            (
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            ),
        ];
        let (status, answer) = self
            .endpoint
            .request("POST", "/v1/submissions", &headers, &body)
            .await?;
        checked(status, answer)
    }

    /// A submission's state, without its figures; with the feedback once
    /// it is done.
    pub async fn status(&self, id: &str) -> Result<Value> {
        let mut row = self.get(&format!("/v1/submissions/{}", encode(id))).await?;
        if let Value::Object(map) = &mut row {
            map.remove("summary");
            if map.get("status").and_then(Value::as_str) == Some("done") {
                let report = self.raw_report(id).await?;
                map.insert("feedback".into(), report["feedback"].clone());
            }
        }
        Ok(row)
    }

    async fn raw_report(&self, id: &str) -> Result<Value> {
        self.get(&format!("/v1/submissions/{}/report", encode(id)))
            .await
    }

    /// The public parts of a done submission's report.
    pub async fn report(&self, id: &str) -> Result<Value> {
        Ok(public_report(&self.raw_report(id).await?))
    }

    /// The leaderboard of `task`: ranks, names, and the PGR only when the
    /// server ranks on the public split (rounded to 0.01).
    pub async fn leaderboard(&self, task: &str) -> Result<Value> {
        let board = self
            .get(&format!("/v1/leaderboard?task={}", encode(task)))
            .await?;
        let public = board["split"] == "public";
        let entries: Vec<Value> = board["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let mut row = json!({
                    "rank": e["rank"], "submission_id": e["submission_id"],
                    "name": e["name"], "submitter": e["submitter"],
                });
                if public {
                    row["public_pgr"] = e["pgr_mean"].as_f64().map(round2).into();
                }
                row
            })
            .collect();
        Ok(json!({
            "task": task,
            "ranked_by": if public { "public split" } else { "private split (figures withheld)" },
            "entries": entries,
        }))
    }

    /// The server's entry for task `name` (from `GET /v1/tasks`).
    pub async fn task(&self, name: &str) -> Result<Value> {
        let tasks = self.get("/v1/tasks").await?;
        tasks["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .cloned()
            .ok_or_else(|| Error::UnknownTask(name.to_owned()))
    }

    /// Submits, waits for the evaluation (calling `step` on each change of
    /// state), and returns its feedback.
    pub async fn evaluate(
        &self,
        wasm: &Path,
        task: &str,
        config: &str,
        mut step: impl FnMut(&str),
    ) -> Result<Evaluated> {
        let name = wasm
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("strategy")
            .chars()
            .take(64)
            .collect::<String>();
        let created = self.submit(wasm, &name, task, config).await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| Error::Transport("the server's answer has no id".into()))?
            .to_owned();
        let mut last = String::new();
        loop {
            let row = self
                .get(&format!("/v1/submissions/{}", encode(&id)))
                .await?;
            let status = row["status"].as_str().unwrap_or("unknown").to_owned();
            if status != last {
                step(&format!("submission {id}: {status}"));
                last = status.clone();
            }
            match status.as_str() {
                "done" => break,
                "failed" => {
                    return Err(Error::Server {
                        code: "evaluation_failed".into(),
                        message: row["error"].as_str().unwrap_or("no detail").to_owned(),
                    });
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
        let report = self.raw_report(&id).await?;
        Ok(Evaluated {
            feedback: report["feedback"].clone(),
            refusal: None,
            wasm_sha256: report["wasm"]["sha256"].as_str().unwrap_or("").to_owned(),
            task: report["task"]["hash"].as_str().unwrap_or("").to_owned(),
            submission_id: Some(id),
        })
    }
}

/// A non-2xx answer as [`Error::Server`] with the service's code.
fn checked(status: u16, body: Value) -> Result<Value> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let code = body["error"]["code"]
        .as_str()
        .map_or_else(|| format!("http_{status}"), str::to_owned);
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no message")
        .to_owned();
    Err(Error::Server { code, message })
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The parts of a report an agent may see: the feedback, what was
/// evaluated (wasm, task, policy hash, config, versions), flag codes and
/// rankability. Never `score`, `controls`, `degeneracy`, per-run figures or
/// seeds.
pub fn public_report(report: &Value) -> Value {
    let mut out = Map::new();
    for key in ["feedback", "wasm", "task", "config", "versions", "device"] {
        if let Some(v) = report.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("policy_sha256".into(), report["policy"]["sha256"].clone());
    out.insert("rankable".into(), report["rankable"]["value"].clone());
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_report_has_no_score() {
        let report = json!({
            "feedback": {"public_pgr": 0.38}, "score": {"private": {"pgr": 0.4}},
            "seeds": {"values": [1, 2]}, "runs": [{"student_acc": 0.7}],
            "policy": {"sha256": "ab", "policy": {}}, "rankable": {"value": true},
        });
        let text = public_report(&report).to_string();
        for hidden in ["private", "score", "seeds", "student_acc"] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
        assert!(text.contains("0.38"));
    }

    #[test]
    fn server_errors_keep_their_code() {
        let e = checked(
            429,
            json!({"error": {"code": "quota_exceeded", "message": "50 a day"}}),
        );
        assert!(matches!(e, Err(Error::Server { code, .. }) if code == "quota_exceeded"));
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
