#!/usr/bin/env python3
"""A stand-in for `w2s serve` to work on the dashboard without Rust.

Serves the dashboard's files at the routes of the API contract (`/`,
`/submissions/{id}`, `/assets/{file}`) and answers the read-only API
(`/v1/tasks`, `/v1/leaderboard`, `/v1/submissions/{id}`,
`/v1/submissions/{id}/report`, `/healthz`) from fixtures. Python 3
standard library only.

Every report is derived from one real report, `fixtures/sample-report.json`
(`w2s eval --json` of plugins/vanilla on the default task). The variants
below change strings and structure to exercise the page; their figures are
NOT recomputed, so they are UI fixtures, not results:

  sub-vanilla   done; the sample report as it is
  sub-hostile   done; name, submitter, config, metric name, stdout and a
                guest error message are HTML/script injections that set
                body[data-pwned] if the page ever parses them as HTML
  sub-partial   done; seed #2 ended fuel-exhausted (its per-seed scores
                removed, its metrics cut to 5 points, one NaN metric)
  sub-public    done; the private split removed, as competition mode does
  sub-suite     done; a suite report of two copies of the sample
  sub-refused   done; every run refused at load (invalid-module), nothing
                scored: `score` null, no metric
  sub-large     done; 20,000 points per seed for each of two metrics (a
                synthetic curve, not measured), to see long series thinned
  sub-running   running for the first 2 status requests, then done
  sub-queued    queued forever
  sub-failed    failed after 3 attempts
  anything else 404

`POST /v1/submissions` (any bearer token; multipart parts `wasm` and
`metadata`, as the contract says) adds `sub-posted-N`: queued on its first
status request, running on its second, then done with the sample report
(its `wasm` section describes the uploaded bytes; every figure is the
sample's).

`/dev/selftest` runs the unit tests of the pure functions (selftest.js).

Options: --port N (0 picks a free port; prints `listening on
http://127.0.0.1:PORT` like `w2s serve`), --competition (redact the private
split everywhere; the leaderboard ranks by public PGR), --broken (every
/v1 request answers 503, to see the error banner).
"""

import argparse
import copy
import email.parser
import email.policy
import hashlib
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARD = os.path.dirname(HERE)
SAMPLE = os.path.join(HERE, "fixtures", "sample-report.json")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
ASSET = re.compile(r"^[a-z0-9_]+\.(js|css)$")
RUNNING_POLLS = 2

TASKS = [
    {"name": "default", "description": "synth-default: the default synthetic task",
     "classes": 4, "pool": 6000},
    {"name": "wide", "description": "a task nobody has submitted to yet",
     "classes": 8, "pool": 12000},
]


def redact(report):
    """Removes the private split as `w2s serve --competition` does: every
    object key named `private` or starting with `private_`, anywhere."""
    if isinstance(report, dict):
        return {k: redact(v) for k, v in report.items() if k != "private" and not k.startswith("private_")}
    if isinstance(report, list):
        return [redact(v) for v in report]
    return report


def hostile(sample):
    r = copy.deepcopy(sample)
    inject = "<img src=x onerror=\"document.body.dataset.pwned='{}'\">"
    r["config"] = "</code>" + inject.format("config")
    for run in r["runs"]:
        for m in run["metrics"]:
            m["name"] = "<b>loss</b>" + inject.format("metric")
    r["runs"][0]["stdout"] = {"kept": "<script>document.body.dataset.pwned='stdout'</script>\n"
                              + inject.format("stdout"), "kept_bytes": 120, "dropped_bytes": 7}
    r["runs"][1]["outcome"] = {"code": "guest-error",
                               "message": "the strategy's run returned an error (see its message)",
                               "detail": {"code": "guest-error", "message": inject.format("guest-error")}}
    return r


def partial(sample):
    r = copy.deepcopy(sample)
    run = r["runs"][1]
    run["outcome"] = {"code": "fuel-exhausted", "message": "the strategy ran out of fuel",
                      "detail": {"code": "fuel-exhausted"}}
    run["metrics"] = run["metrics"][:5]
    run["metrics"][3]["value"] = None
    for part in ("public", "private"):
        r["score"][part]["per_seed"] = [s for s in r["score"][part]["per_seed"]
                                        if s["seed"] != run["seed"]]
    r["rankable"] = {"value": False, "reasons": ["1 of 5 runs did not complete (fuel-exhausted)"]}
    return r


def refused(sample):
    r = copy.deepcopy(sample)
    for run in r["runs"]:
        run["outcome"] = {"code": "invalid-module", "message": "the component was refused: not a component",
                          "detail": {"code": "invalid-module", "reason": "not a component"}}
        run["metrics"] = []
        run["pool_predictions"] = None
        run["usage"] = {k: 0 for k in run["usage"]}
        run["audit"] = {"calls": {}, **{k: 0 for k in run["audit"] if k != "calls"}}
    r["score"] = None
    r["timing"]["runs_ms"] = [0 for _ in r["runs"]]
    r["rankable"] = {"value": False, "reasons": ["no run completed"]}
    return r


def large(sample):
    r = copy.deepcopy(sample)
    for k, run in enumerate(r["runs"]):
        run["metrics"] = [{"step": step, "name": name, "value": scale * (1.0 / (1.0 + step / 500.0)
                                                                  + 0.05 * ((step * 7919 + k * 104729) % 101) / 101.0)}
                          for step in range(20000) for name, scale in (("train_loss", 1.2), ("grad_norm", 3.0))]
    return r


def suite(sample):
    second = copy.deepcopy(sample)
    second["task"]["name"] = "synth-wide"

    def line(r):
        return {"task": r["task"]["name"], "hash": r["task"]["hash"],
                "public_pgr": r["score"]["public"]["pgr"]["mean"],
                "private_pgr": r["score"]["private"]["pgr"]["mean"], "flags": []}
    reports = [copy.deepcopy(sample), second]
    summary = [line(r) for r in reports]
    return {"report_format": sample["report_format"], "kind": "suite",
            "versions": sample["versions"], "suite": {"version": 1, "tasks": []},
            "summary": summary,
            "worst": {"private": [summary[0]["task"], summary[0]["private_pgr"]],
                      "public": [summary[0]["task"], summary[0]["public_pgr"]]},
            "reports": reports}


def submission(sid, name, submitter, status, attempts=1, error=None):
    started = None if status == "queued" else "2026-11-27T10:00:05Z"
    finished = "2026-11-27T10:00:12Z" if status in ("done", "failed") else None
    return {"id": sid, "name": name, "submitter": submitter, "task": "default", "status": status,
            "created_at": "2026-11-27T10:00:00Z", "started_at": started, "finished_at": finished,
            "attempts": attempts, "error": error, "summary": None}


class Fixtures:
    """The submissions and reports the mock answers with."""

    def __init__(self, competition):
        with open(SAMPLE, encoding="utf-8") as f:
            sample = json.load(f)
        self.competition = competition
        self.split = "public" if competition else "private"
        self.reports = {
            "sub-vanilla": sample, "sub-hostile": hostile(sample), "sub-partial": partial(sample),
            "sub-public": redact(sample), "sub-suite": suite(sample), "sub-running": sample,
            "sub-large": large(sample), "sub-refused": refused(sample),
        }
        if competition:
            self.reports = {k: redact(v) for k, v in self.reports.items()}
        pwn = "<img src=x onerror=\"document.body.dataset.pwned='{}'\">"
        self.subs = {
            "sub-vanilla": submission("sub-vanilla", "vanilla", "alice", "done"),
            "sub-hostile": submission("sub-hostile", pwn.format("name"), pwn.format("submitter"), "done"),
            "sub-partial": submission("sub-partial", "vanilla, one seed out of fuel", "bob", "done"),
            "sub-public": submission("sub-public", "vanilla (private split redacted)", "carol", "done"),
            "sub-suite": submission("sub-suite", "vanilla on a suite", "alice", "done"),
            "sub-large": submission("sub-large", "long training curves", "frank", "done"),
            "sub-refused": submission("sub-refused", "not a component", "frank", "done"),
            "sub-running": submission("sub-running", "vanilla, still running", "dave", "running"),
            "sub-queued": submission("sub-queued", "waiting in the queue", "dave", "queued"),
            "sub-failed": submission("sub-failed", "broken component", "erin", "failed", attempts=3,
                                     error="evaluation failed: " + pwn.format("error")),
        }
        for sid, sub in self.subs.items():
            if sub["status"] == "done" and self.reports[sid].get("kind") != "suite" \
                    and self.reports[sid]["score"]:
                sub["summary"] = self.summary(self.reports[sid])
        self.polls = 0
        self.posted = {}
        self.lock = threading.Lock()

    def summary(self, report):
        split = self.split if self.split in report["score"] else "public"
        part = report["score"][split]
        pgr = part["pgr"]
        return {"pgr_mean": pgr["mean"], "pgr_se": pgr["se"], "pgr_ci95": pgr["ci95"],
                "student_acc_mean": part["student_acc"]["mean"], "weak_acc": part["weak_acc"],
                "ceiling_acc": part["ceiling_acc"], "split": split,
                "flags": [f["code"] for f in report["flags"]]}

    def add(self, name, task, wasm, filename):
        """A posted submission: its id."""
        with self.lock:
            sid = f"sub-posted-{len(self.posted) + 1}"
            self.posted[sid] = 0
        report = copy.deepcopy(self.reports["sub-vanilla"])
        report["wasm"] = {"file": filename, "sha256": hashlib.sha256(wasm).hexdigest(), "bytes": len(wasm)}
        self.reports[sid] = report
        sub = submission(sid, name, "mock-submitter", "queued")
        sub["task"] = task
        self.subs[sid] = sub
        return sid

    def ready(self, sid):
        """Whether the report of `sid` may be read."""
        if sid == "sub-running":
            return self.polls > RUNNING_POLLS
        if sid in self.posted:
            return self.posted[sid] > 2
        return sid in self.reports

    def status(self, sid):
        sub = copy.deepcopy(self.subs.get(sid))
        if sid in self.posted:
            with self.lock:
                self.posted[sid] += 1
                seen = self.posted[sid]
            if seen == 2:
                sub.update(status="running", started_at="2026-11-27T10:00:05Z")
            elif seen > 2:
                sub.update(status="done", started_at="2026-11-27T10:00:05Z",
                           finished_at="2026-11-27T10:00:30Z", summary=self.summary(self.reports[sid]))
                self.subs[sid] = copy.deepcopy(sub)
        if sid == "sub-running":
            with self.lock:
                self.polls += 1
                if self.polls > RUNNING_POLLS:
                    sub.update(status="done", finished_at="2026-11-27T10:00:30Z",
                               summary=self.summary(self.reports[sid]))
        return sub

    def leaderboard(self, task):
        entries = []
        if task == "default":
            for sid, sub in self.subs.items():
                if sub["status"] == "done" and sub["summary"] and sub["summary"]["split"] == self.split:
                    s = sub["summary"]
                    entries.append({"submission_id": sid, "name": sub["name"], "submitter": sub["submitter"],
                                    "pgr_mean": s["pgr_mean"], "pgr_se": s["pgr_se"],
                                    "student_acc_mean": s["student_acc_mean"],
                                    "finished_at": sub["finished_at"]})
        entries.sort(key=lambda e: -e["pgr_mean"])
        for i, e in enumerate(entries):
            e["rank"] = i + 1
        return {"task": task, "split": self.split, "entries": entries}


def handler(fixtures, broken):
    class Handler(BaseHTTPRequestHandler):
        def send(self, code, body, ctype):
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def json(self, code, value):
            self.send(code, json.dumps(value), "application/json")

        def error(self, code, kind, message):
            self.json(code, {"error": {"code": kind, "message": message}})

        def file(self, name):
            with open(os.path.join(DASHBOARD, name), "rb") as f:
                self.send(200, f.read(), TYPES[os.path.splitext(name)[1]])

        def do_GET(self):  # noqa: N802 (the stdlib's name)
            url = urlsplit(self.path)
            path = url.path
            parts = [unquote(p) for p in path.split("/")[1:]]
            if path == "/":
                return self.file("index.html")
            if len(parts) == 2 and parts[0] == "submissions" and parts[1]:
                return self.file("submission.html")
            if len(parts) == 2 and parts[0] == "assets" and ASSET.match(parts[1]) \
                    and os.path.isfile(os.path.join(DASHBOARD, parts[1])):
                return self.file(parts[1])
            if len(parts) == 2 and parts[0] == "dev" and parts[1] in ("selftest", "selftest.js"):
                if parts[1] == "selftest.js":
                    with open(os.path.join(HERE, "selftest.js"), "rb") as f:
                        return self.send(200, f.read(), TYPES[".js"])
                with open(os.path.join(HERE, "selftest.html"), "rb") as f:
                    return self.send(200, f.read(), TYPES[".html"])
            if path == "/healthz":
                return self.send(200, "ok", "text/plain; charset=utf-8")
            if parts[0] != "v1":
                return self.send(404, "not found", "text/plain; charset=utf-8")
            if broken:
                return self.error(503, "unavailable", "the mock was started with --broken")
            if path == "/v1/tasks":
                return self.json(200, {"tasks": TASKS})
            if path == "/v1/leaderboard":
                task = parse_qs(url.query).get("task", ["default"])[0]
                if task not in [t["name"] for t in TASKS]:
                    return self.error(404, "unknown_task", f"no task named {task!r}")
                return self.json(200, fixtures.leaderboard(task))
            if len(parts) >= 3 and parts[1] == "submissions" and parts[2] in fixtures.subs:
                sid = parts[2]
                if len(parts) == 3:
                    return self.json(200, fixtures.status(sid))
                if len(parts) == 4 and parts[3] == "report":
                    if fixtures.ready(sid):
                        return self.json(200, fixtures.reports[sid])
                    return self.error(404, "not_done", f"submission {sid} has no report yet")
            if len(parts) >= 3 and parts[1] == "submissions":
                return self.error(404, "not_found", f"no submission with id {parts[2]!r}")
            return self.error(404, "not_found", f"no route {path}")

        def do_POST(self):  # noqa: N802 (the stdlib's name)
            if urlsplit(self.path).path != "/v1/submissions":
                return self.error(404, "not_found", f"no route POST {self.path}")
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                return self.error(401, "unauthorized", "a bearer token is required")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            if not msg.is_multipart():
                return self.error(400, "bad_multipart", "the body is not multipart/form-data")
            parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
            if "wasm" not in parts or "metadata" not in parts:
                return self.error(400, "bad_multipart", "parts `wasm` and `metadata` are required")
            try:
                meta = json.loads(parts["metadata"].get_payload(decode=True))
                name = meta["name"]
            except (ValueError, KeyError, TypeError) as e:
                return self.error(400, "bad_metadata", f"metadata: {e}")
            wasm = parts["wasm"].get_payload(decode=True)
            filename = parts["wasm"].get_filename() or "strategy.wasm"
            sid = fixtures.add(str(name), str(meta.get("task", "default")), wasm, filename)
            return self.json(201, {"id": sid, "status": "queued"})

        def log_message(self, fmt, *args):
            sys.stderr.write("mock: " + (fmt % args) + "\n")

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--competition", action="store_true")
    ap.add_argument("--broken", action="store_true")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Fixtures(args.competition), args.broken))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
