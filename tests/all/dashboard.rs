//! The web dashboard in headless chromium, against the real service:
//! `w2s serve` on a fresh SQLite database with one worker, one submission
//! of `plugins/vanilla` on the default task over HTTP, and once it is done
//! `scripts/dashboard-check.sh`, which loads the leaderboard, follows the
//! link to the submission and checks that a plot (`svg.plot` with a
//! `path.series` that has points) and the report table rendered.
//!
//! Chromium is Debian's `chromium` (`scripts/ensure-chromium.sh` installs
//! it). Without it the test fails when `CI=true`, and is skipped with a
//! printed reason otherwise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::helpers::{plugin, repo, run, w2s, workdir};

/// How long the server may take to print its `listening on` line.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long the evaluation (5 seeds of vanilla on the default task) may take.
const EVAL_DEADLINE: Duration = Duration::from_secs(600);
/// Between two status requests.
const POLL: Duration = Duration::from_millis(500);

/// The browser: `$CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A running `w2s serve`, killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, from its `listening on` line.
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `w2s serve --db DB --listen 127.0.0.1:0 --workers 1 --data DATA`
/// and waits for its `listening on http://HOST:PORT` line.
fn serve(db: &str, data: &std::path::Path) -> Server {
    let mut child = w2s()
        .args([
            "serve",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            // The development default task (shared with `w2s eval` runs).
            "--public-default-task",
        ])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()
        .expect("w2s serve starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Reads every line, so that the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let mut server = Server {
        child,
        base: String::new(),
    };
    match rx.recv_timeout(START_DEADLINE) {
        Ok(base) => server.base = base,
        Err(_) => panic!(
            "w2s serve printed no `listening on` line within {START_DEADLINE:?} (exit: {:?})",
            server.child.try_wait()
        ),
    }
    server
}

/// One HTTP/1.1 exchange over a fresh connection: returns the status and
/// the body (de-chunked).
fn http(base: &str, request_head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let authority = base.strip_prefix("http://").expect("an http:// address");
    let mut stream = TcpStream::connect(authority).expect("the server accepts a connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{request_head}\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut body = response[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_text.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_hex, 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// GET `path` and parse its JSON body, asserting a 200.
fn get_json(base: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(base, &format!("GET {path} HTTP/1.1"), b"");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
}

/// POST /v1/submissions: the wasm and its metadata as multipart/form-data.
fn submit(base: &str, token: &str, wasm: &[u8], metadata: &serde_json::Value) -> String {
    let boundary = "w2s-dashboard-test-boundary-5f1c";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\
             Content-Type: application/json\r\n\r\n{metadata}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"wasm\"; filename=\"vanilla.wasm\"\r\n\
             Content-Type: application/wasm\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(wasm);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST /v1/submissions HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}"
    );
    let (status, reply) = http(base, &head, &body);
    let text = String::from_utf8_lossy(&reply);
    assert_eq!(status, 201, "POST /v1/submissions: {text}");
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["status"], "queued", "{reply}");
    reply["id"].as_str().expect("an id").to_owned()
}

/// Polls the submission until it is done; panics if it fails or takes too long.
fn wait_done(base: &str, id: &str) {
    let start = Instant::now();
    loop {
        let sub = get_json(base, &format!("/v1/submissions/{id}"));
        match sub["status"].as_str() {
            Some("done") => return,
            Some("failed") => panic!("submission {id} failed: {sub}"),
            _ if start.elapsed() > EVAL_DEADLINE => {
                panic!("submission {id} not done after {EVAL_DEADLINE:?}: {sub}")
            }
            _ => std::thread::sleep(POLL),
        }
    }
}

#[test]
fn the_dashboard_renders_a_submissions_plots_in_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is required in CI: run scripts/ensure-chromium.sh (Debian's chromium)"
        );
        eprintln!(
            "skipped: no chromium on PATH (scripts/ensure-chromium.sh installs it; CI=true fails instead)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("service.db").display());
    let (out, token, err) = run(w2s().args(["token", "create", "dashboard", "--db", &db]));
    assert!(out.status.success(), "token create failed: {err}");
    let token = token.trim();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "one token on one line: {token:?}"
    );

    let server = serve(&db, &dir.path().join("data"));
    let wasm = std::fs::read(plugin("vanilla")).unwrap();
    let metadata = serde_json::json!({"name": "vanilla (dashboard test)", "task": "default"});
    let id = submit(&server.base, token, &wasm, &metadata);
    wait_done(&server.base, &id);
    let board = get_json(&server.base, "/v1/leaderboard?task=default");
    assert_eq!(board["entries"][0]["submission_id"], id.as_str(), "{board}");

    // Pages and screenshots stay in the test's work directory.
    let pages = workdir().join("dashboard-check");
    let (out, stdout, stderr) = run(std::process::Command::new(
        repo().join("scripts/dashboard-check.sh"),
    )
    .arg(&server.base)
    .arg(&pages)
    .env("CHROMIUM", &browser));
    assert!(
        out.status.success(),
        "dashboard check failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("-> /submissions/{id}:")),
        "the check opened another submission: {stdout}"
    );
    println!("{stdout}");
}

#[test]
fn dechunk_joins_the_chunks() {
    // The example of RFC 9112's chunked coding as MDN gives it.
    assert_eq!(
        dechunk(b"4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\n"),
        b"Wikipedia in \r\nchunks."
    );
}
