#!/usr/bin/env python3
"""Load bench of the evaluation service (not a test).

Starts `w2s serve` on a fresh SQLite file with a small task, sends N
submissions at once (one thread each), waits for all of them, and reports:
submission latency (POST → 201), queue latency (created_at → started_at of
the attempt that completed), evaluation time, throughput, and the peak
resident memory of the server and of all its child processes together,
sampled every 100 ms from /proc, next to the number of evaluations that ran
at once (never more than --workers).

    scripts/bench-service.py --w2s target/debug/w2s --wasm plugins/target/wasm32-wasip2/release/vanilla.wasm
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BOUNDARY = "w2s-bench-boundary"

# A small task (docs/TASK_FORMAT.md, `--config-json`): the default story at
# a tenth of the default task's size.
SMALL_TASK = {
    "name": "bench-small", "seed": 7, "pool": 600, "test": 600, "teacher_train": 400,
    "classes": 4, "feature_dim": 64, "latent": 8, "concept_width": 32,
    "strong_noise": 0.1, "weak_visible": 6, "weak_noise": 0.8,
}


def multipart(wasm, meta):
    parts = []
    for name, data in (("wasm", wasm), ("metadata", json.dumps(meta).encode())):
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n\r\n'.encode())
        parts.append(data + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def ms(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


def tree_rss(root):
    """(server RSS, whole tree's RSS in bytes, `w2s eval` children of the server)."""
    kids = {}
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        rss = int(stat.rsplit(")", 1)[1].split()[21]) * os.sysconf("SC_PAGE_SIZE")
        kids.setdefault(ppid, []).append(int(pid))
        procs[int(pid)] = (rss, cmd)
    # Evaluations run in their own process groups but stay our descendants.
    total, evals, stack = 0, 0, list(kids.get(root, []))
    while stack:
        p = stack.pop()
        rss, cmd = procs.get(p, (0, []))
        total += rss
        # Direct children only: a forked grandchild shows `eval` until it execs.
        evals += p in kids.get(root, []) and len(cmd) > 1 and cmd[1] == b"eval"
        stack.extend(kids.get(p, []))
    return procs.get(root, (0, []))[0], total, evals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--w2s", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    w2s = os.path.abspath(args.w2s)
    wasm = open(args.wasm, "rb").read()
    work = tempfile.mkdtemp(prefix="w2s-bench-")
    try:
        os.makedirs(f"{work}/.w2s")
        subprocess.run([w2s, "task", "synth", "--config-json", json.dumps(SMALL_TASK), "--out", f"{work}/tasks/small"],
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
        db = f"sqlite://{work}/service.db"
        token = subprocess.run([w2s, "token", "create", "bench", "--db", db, "--quota-per-day", str(args.n),
                                "--quota-concurrent", str(args.n)], cwd=work, check=True,
                               capture_output=True, text=True).stdout.strip()
        server = subprocess.Popen([w2s, "serve", "--db", db, "--listen", "127.0.0.1:0", "--workers", str(args.workers),
                                   "--seeds", str(args.seeds), "--tasks", f"{work}/tasks"],
                                  cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        base = server.stdout.readline().strip().removeprefix("listening on ")
        peak = {"server": 0, "tree": 0, "evals": 0}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                s, t, e = tree_rss(server.pid)
                peak["server"] = max(peak["server"], s)
                peak["tree"] = max(peak["tree"], t)
                peak["evals"] = max(peak["evals"], e)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        body = multipart(wasm, {"name": "bench", "task": "small"})
        ids, post_ms = [None] * args.n, [0.0] * args.n
        go = threading.Barrier(args.n)

        def submit(i):
            req = urllib.request.Request(f"{base}/v1/submissions", data=body, method="POST", headers={
                "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            go.wait()
            t = time.monotonic()
            with urllib.request.urlopen(req, timeout=300) as r:
                ids[i] = json.load(r)["id"]
            post_ms[i] = (time.monotonic() - t) * 1000

        start = time.monotonic()
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(args.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        subs = {}
        while len(subs) < args.n:
            for i in ids:
                if i not in subs:
                    with urllib.request.urlopen(f"{base}/v1/submissions/{i}") as r:
                        v = json.load(r)
                    if v["status"] in ("done", "failed"):
                        subs[i] = v
            time.sleep(0.5)
        wall = time.monotonic() - start
        # Every report is a real evaluation: count the rankable ones (host
        # seeds, every run completed and scored).
        rankable = 0
        for i in ids:
            with urllib.request.urlopen(f"{base}/v1/submissions/{i}/report") as r:
                rankable += json.load(r)["rankable"]["value"] is True
        stop.set()
        sampler.join()
        server.terminate()
        server.wait()
        done = [v for v in subs.values() if v["status"] == "done"]
        queue = sorted(ms(v["started_at"]) - ms(v["created_at"]) for v in subs.values())
        evals = sorted(ms(v["finished_at"]) - ms(v["started_at"]) for v in subs.values())
        q = statistics.quantiles(queue, n=100)
        p = statistics.quantiles(post_ms, n=100)
        print(json.dumps({
            "submissions": args.n, "workers": args.workers, "seeds": args.seeds, "done": len(done),
            "failed": args.n - len(done), "rankable_reports": rankable,
            "post_latency_ms": {"p50": round(p[49], 1), "p95": round(p[94], 1), "max": round(max(post_ms), 1)},
            "queue_latency_s": {"p50": round(q[49] / 1000, 2), "p95": round(q[94] / 1000, 2), "max": round(queue[-1] / 1000, 2)},
            "eval_s": {"p50": round(statistics.median(evals) / 1000, 2), "max": round(evals[-1] / 1000, 2)},
            "wall_s": round(wall, 1), "throughput_per_min": round(args.n / wall * 60, 1),
            "peak_rss_mib": {"server": round(peak["server"] / 2**20, 1), "server_and_children": round(peak["tree"] / 2**20, 1)},
            "peak_concurrent_evals": peak["evals"],
        }, indent=2))
        if done and len(done) < args.n:
            print("failures:", {v["error"] for v in subs.values() if v["status"] == "failed"}, file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
