//! The service suite, run against SQLite (tests/all/service.rs) and
//! PostgreSQL (tests/all/service_pg.rs): each check takes the database URL
//! (`None`: a fresh SQLite file).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::plugin;
use crate::service_client::{
    Proc, Site, get, multipart, post_submission, submit, wait_finished, wait_for,
};

/// Token, submit vanilla, poll until done, then the report, the summary
/// (from the report's private split), the leaderboard, tasks, metrics.
pub(crate) fn happy_path(db: Option<&str>) {
    let site = Site::new(db);
    let token = site.token("alice", &[]);
    let server = site.serve(1, &[]);
    let addr = &server.addr;
    assert_eq!(get(addr, "/healthz").body, b"ok");
    let page = get(addr, "/submissions/anything");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("script-src 'self'"))
    );
    let style = get(addr, "/assets/style.css");
    assert_eq!(
        (style.status, style.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );
    assert_eq!(get(addr, "/assets/nope.js").status, 404);
    let tasks = get(addr, "/v1/tasks").json();
    assert_eq!(tasks["tasks"][0]["name"], "default", "{tasks}");
    assert_eq!(tasks["tasks"][0]["classes"], 4);

    let id = submit(addr, &token, &plugin("vanilla"), "vanilla-happy");
    let v = wait_finished(addr, &id);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["submitter"], "alice");
    assert!(v["finished_at"].as_str().unwrap().ends_with('Z'), "{v}");

    let report = get(addr, &format!("/v1/submissions/{id}/report"));
    assert_eq!(report.status, 200);
    let report = report.json();
    let private = &report["score"]["private"]["pgr"];
    assert_eq!(v["summary"]["pgr_mean"], private["mean"], "{v}");
    assert_eq!(v["summary"]["pgr_se"], private["se"]);
    assert_eq!(v["summary"]["split"], "private");
    assert_eq!(report["rankable"]["value"], true);

    let board = get(addr, "/v1/leaderboard?task=default").json();
    assert_eq!(board["split"], "private");
    let entries = board["entries"].as_array().unwrap();
    let mine: Vec<_> = entries
        .iter()
        .filter(|e| e["submission_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{board}");
    assert_eq!(mine[0]["pgr_mean"], private["mean"]);
    assert_eq!(mine[0]["name"], "vanilla-happy");

    let metrics = String::from_utf8(get(addr, "/metrics").body).unwrap();
    assert!(
        metrics.contains("w2s_eval_duration_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("w2s_http_requests_total{route=\"/v1/submissions\",status=\"201\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("w2s_jobs{status=\"done\"} 1"), "{metrics}");

    // The same database behind a competition-mode server: public figures
    // only, and no private field anywhere in the report.
    let comp = site.serve(0, &["--competition"]);
    let c = &comp.addr;
    let public = &report["score"]["public"]["pgr"];
    let v = get(c, &format!("/v1/submissions/{id}")).json();
    assert_eq!(v["summary"]["split"], "public", "{v}");
    assert_eq!(v["summary"]["pgr_mean"], public["mean"]);
    let board = get(c, "/v1/leaderboard").json();
    assert_eq!(board["split"], "public");
    let row = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["submission_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["pgr_mean"], public["mean"]);
    let redacted = String::from_utf8(get(c, &format!("/v1/submissions/{id}/report")).body).unwrap();
    assert!(!redacted.contains("\"private"), "{redacted}");
    assert!(redacted.contains("\"public\""));
}

/// 401, 400 on garbage multipart and JSON, 413 over the body limit and over
/// the wasm quota, 429 with Retry-After; the server survives all of it.
pub(crate) fn errors(db: Option<&str>) {
    let site = Site::new(db);
    let token = site.token(
        "bob",
        &["--quota-concurrent", "1", "--quota-wasm-bytes", "300000"],
    );
    // API only: the one accepted submission stays queued (concurrent quota).
    let server = site.serve(0, &["--max-body-bytes", "1000000"]);
    let addr = &server.addr;
    let wasm = std::fs::read(plugin("vanilla")).unwrap();
    let meta = br#"{"name": "x"}"#;
    let good = multipart(&[("wasm", &wasm), ("metadata", meta)]);

    // 401: no token, a malformed header, an unknown token.
    let a = crate::service_client::request(addr, "POST", "/v1/submissions", &[], &good);
    assert_eq!((a.status, a.error_code().as_str()), (401, "unauthorized"));
    let a = post_submission(addr, "w2s_not-a-token", &good);
    assert_eq!((a.status, a.error_code().as_str()), (401, "unauthorized"));

    // 400: garbage bodies and metadata, each with a message.
    let bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage multipart",
            b"\x00\xffnot multipart at all".to_vec(),
        ),
        ("truncated multipart", good[..good.len() / 2].to_vec()),
        (
            "bad JSON",
            multipart(&[("wasm", &wasm), ("metadata", b"{\"name\": ")]),
        ),
        (
            "JSON of the wrong shape",
            multipart(&[("wasm", &wasm), ("metadata", b"[1, 2]")]),
        ),
        (
            "unknown field",
            multipart(&[
                ("wasm", &wasm),
                ("metadata", br#"{"name": "x", "score": 1}"#),
            ]),
        ),
        ("missing wasm", multipart(&[("metadata", meta)])),
        ("missing metadata", multipart(&[("wasm", &wasm)])),
        (
            "not wasm",
            multipart(&[("wasm", b"MZ\x90\x00"), ("metadata", meta)]),
        ),
        (
            "unknown task",
            multipart(&[
                ("wasm", &wasm),
                ("metadata", br#"{"name": "x", "task": "../etc"}"#),
            ]),
        ),
        (
            "empty name",
            multipart(&[("wasm", &wasm), ("metadata", br#"{"name": ""}"#)]),
        ),
    ];
    for (what, body) in &bad {
        let a = post_submission(addr, &token, body);
        assert_eq!(
            a.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.error_code(), "bad_request", "{what}");
    }
    // Not multipart at all.
    let auth = format!("Bearer {token}");
    let a = crate::service_client::request(
        addr,
        "POST",
        "/v1/submissions",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));

    // 413: over the server's body limit, and over the submitter's wasm quota.
    let huge = multipart(&[("wasm", &vec![0u8; 1_200_000]), ("metadata", meta)]);
    let a = post_submission(addr, &token, &huge);
    assert_eq!(a.status, 413, "{}", String::from_utf8_lossy(&a.body));
    let mut big = b"\0asm".to_vec();
    big.resize(400_000, 0);
    let a = post_submission(
        addr,
        &token,
        &multipart(&[("wasm", &big), ("metadata", meta)]),
    );
    assert_eq!((a.status, a.error_code().as_str()), (413, "wasm_too_large"));

    // 429: the second submission while the first is queued.
    assert_eq!(post_submission(addr, &token, &good).status, 201);
    let a = post_submission(addr, &token, &good);
    assert_eq!((a.status, a.error_code().as_str()), (429, "quota_exceeded"));
    let retry: u64 = a
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry > 0);
    // Per day: a submitter allowed one a day.
    let carol = site.token("carol", &["--quota-per-day", "1"]);
    assert_eq!(post_submission(addr, &carol, &good).status, 201);
    let a = post_submission(addr, &carol, &good);
    assert_eq!(a.status, 429);
    let retry: u64 = a.header("Retry-After").unwrap().parse().unwrap();
    assert!((86_000..=86_400).contains(&retry), "Retry-After {retry}");

    // Unknown ids and routes: 404 JSON; a bad query: 400.
    assert_eq!(get(addr, "/v1/submissions/nope").error_code(), "not_found");
    assert_eq!(get(addr, "/v1/submissions/nope/report").status, 404);
    assert_eq!(get(addr, "/v2/nothing").status, 404);
    assert_eq!(get(addr, "/v1/leaderboard?task=a&task=b").status, 400);
    // Still alive.
    assert_eq!(get(addr, "/healthz").body, b"ok");
}

/// Start the server, submit, wait until running, SIGKILL the server (only
/// it: its evaluation is in its own process group and runs on as a zombie),
/// restart it: the job completes exactly once, on its second attempt.
pub(crate) fn kill9(db: Option<&str>) {
    let site = Site::new(db);
    let token = site.token("dave", &[]);
    let mut server = site.serve(1, &["--lease-secs", "3"]);
    let id = submit(&server.addr, &token, &plugin("vanilla"), "vanilla-kill9");
    wait_for(&server.addr, &id, Duration::from_secs(60), |s| {
        s == "running"
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let server = site.serve(1, &["--lease-secs", "3"]);
    let v = wait_finished(&server.addr, &id);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["attempts"], 2, "{v}");
    // Long enough for the first attempt's zombie to have finished too.
    std::thread::sleep(Duration::from_secs(3));
    let v2 = get(&server.addr, &format!("/v1/submissions/{id}")).json();
    assert_eq!(v2, v, "the submission changed after it completed");
    let board = get(&server.addr, "/v1/leaderboard").json();
    let rows = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["submission_id"] == id.as_str())
        .count();
    assert_eq!(rows, 1, "{board}");
    assert_eq!(
        get(&server.addr, &format!("/v1/submissions/{id}/report")).status,
        200
    );
}

/// An API-only server and two `w2s worker` processes racing for `n` jobs:
/// each job is done exactly once (one attempt, one leaderboard row).
pub(crate) fn two_workers(db: Option<&str>, n: usize) {
    let site = Site::new(db);
    let token = site.token("erin", &["--quota-concurrent", "100"]);
    let server = site.serve(0, &[]);
    let ids: Vec<String> = (0..n)
        .map(|i| {
            submit(
                &server.addr,
                &token,
                &plugin("vanilla"),
                &format!("race-{i}"),
            )
        })
        .collect();
    let _workers: Vec<Proc> = (0..2).map(|_| site.worker()).collect();
    for id in &ids {
        let v = wait_finished(&server.addr, id);
        assert_eq!(
            (v["status"].as_str(), v["attempts"].as_i64()),
            (Some("done"), Some(1)),
            "{v}"
        );
    }
    let board = get(&server.addr, "/v1/leaderboard").json();
    let listed: Vec<&str> = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["submission_id"].as_str())
        .filter(|s| ids.iter().any(|i| i == s))
        .collect();
    assert_eq!(listed.len(), n, "{board}");
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), n);
}
