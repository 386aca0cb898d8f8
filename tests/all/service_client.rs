//! For the service tests: a `w2s serve`/`w2s worker` process that is
//! killed when dropped, and a minimal HTTP/1.1 client (std only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{copy_dir, default_task, run, w2s};

/// A service's files: its tasks directory (holding a copy of the shared
/// default task), its working data, and its SQLite file if it uses one.
pub(crate) struct Site {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: String,
}

impl Site {
    /// A fresh site on SQLite, or on `db` when given.
    pub(crate) fn new(db: Option<&str>) -> Site {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&default_task(), &dir.path().join("tasks/default"));
        let db = db.map_or_else(
            || format!("sqlite://{}", dir.path().join("service.db").display()),
            str::to_owned,
        );
        Site { dir, db }
    }

    /// `--db --tasks --data --seeds 1` (one seed keeps evaluations short).
    fn common(&self) -> Vec<String> {
        let p = |s: &str| self.dir.path().join(s).display().to_string();
        [
            "--db",
            &self.db,
            "--tasks",
            &p("tasks"),
            "--data",
            &p("data"),
            "--seeds",
            "1",
            // The copied public default task (a ranking service generates
            // its own from the secret).
            "--public-default-task",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Starts `w2s serve` with `workers` local workers and `extra` flags.
    pub(crate) fn serve(&self, workers: usize, extra: &[&str]) -> Server {
        let mut child = w2s()
            .arg("serve")
            .args(self.common())
            .args(["--listen", "127.0.0.1:0", "--workers", &workers.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("w2s serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            panic!("w2s serve printed {line:?}, not `listening on http://…`");
        };
        Server {
            addr: url.to_owned(),
            child,
        }
    }

    /// Starts `w2s worker --workers 1`.
    pub(crate) fn worker(&self) -> Proc {
        let child = w2s()
            .arg("worker")
            .args(self.common())
            .args(["--workers", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("w2s worker starts");
        Proc(child)
    }

    /// `w2s token create NAME --db … FLAGS`: the printed token.
    pub(crate) fn token(&self, name: &str, flags: &[&str]) -> String {
        let (out, stdout, stderr) = run(w2s()
            .args(["token", "create", name, "--db", &self.db])
            .args(flags));
        assert!(out.status.success(), "token create failed: {stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "token create printed {stdout:?}");
        lines[0].to_owned()
    }
}

/// A child process, SIGKILLed (that process alone) when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `w2s serve`.
pub(crate) struct Server {
    pub(crate) addr: String,
    pub(crate) child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (panics, quoting it, when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header's value (name case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of a `{"error": {"code", "message"}}` answer.
    pub(crate) fn error_code(&self) -> String {
        let v = self.json();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        v["error"]["code"].as_str().unwrap().to_owned()
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413, 401) before reading the whole body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 4 + size..];
    }
}

/// `GET path`.
pub(crate) fn get(addr: &str, path: &str) -> Answer {
    request(addr, "GET", path, &[], b"")
}

const BOUNDARY: &str = "w2s-test-boundary-7d3f";

/// A multipart/form-data body of `(name, bytes)` parts.
pub(crate) fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `POST /v1/submissions` with `token` and a multipart `body`.
pub(crate) fn post_submission(addr: &str, token: &str, body: &[u8]) -> Answer {
    let auth = format!("Bearer {token}");
    let ctype = format!("multipart/form-data; boundary={BOUNDARY}");
    request(
        addr,
        "POST",
        "/v1/submissions",
        &[("Authorization", &auth), ("Content-Type", &ctype)],
        body,
    )
}

/// Submits `wasm` under `name` on the default task; returns the id.
pub(crate) fn submit(addr: &str, token: &str, wasm: &Path, name: &str) -> String {
    let bytes = std::fs::read(wasm).unwrap();
    let meta = serde_json::json!({"name": name}).to_string();
    let a = post_submission(
        addr,
        token,
        &multipart(&[("wasm", &bytes), ("metadata", meta.as_bytes())]),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["status"], "queued");
    v["id"].as_str().unwrap().to_owned()
}

/// Polls `GET /v1/submissions/{id}` until `done(status)` holds (at most
/// `limit`); returns the last answer.
pub(crate) fn wait_for(
    addr: &str,
    id: &str,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let v = get(addr, &format!("/v1/submissions/{id}")).json();
        if done(v["status"].as_str().unwrap()) {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "submission {id} still {} after {limit:?}: {v}",
            v["status"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the submission is done or failed.
pub(crate) fn wait_finished(addr: &str, id: &str) -> Value {
    wait_for(addr, id, Duration::from_secs(300), |s| {
        s == "done" || s == "failed"
    })
}
