#!/usr/bin/env bash
# The GPU check (docs/DEVICES.md): on a machine with an NVIDIA GPU and no
# Rust toolchain, runs the binaries that scripts/build-cuda.sh put in
# .w2s/gpu/ and prints one table:
#   1. vanilla on the default task on the GPU and on the CPU, same seeds:
#      the GPU's mean PGR must fall inside the CPU run's 95% interval;
#   2. the fused train step's throughput against PyTorch CUDA, same shapes
#      (w2s-bench --device cuda:0 --throughput-only);
#   3. feature extraction against PyTorch transformers on CUDA
#      (w2s-bench --device cuda:0 --extraction: a tiny and a Qwen2.5-0.5B-
#      shaped random-weight model, tokens per second).
#
#   scripts/gpu-check.sh [DIR]      # DIR: the binaries [default: .w2s/gpu]
#
# Libraries: the CUDA 13 libraries of this machine's PyTorch
# (site-packages/nvidia/*/lib), and the cuRAND stand-in of DIR/stub when
# they hold no libcurand.so.10 (scripts/cuda-stub.sh says why that is safe).
# Without a usable GPU (no driver, no device, or no DIR) it falls back to
# the CPU build in target/debug, runs the same rows on the CPU, and says so
# in the table: the path a machine without a GPU tests.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-.w2s/gpu}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

libs=""
for sp in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
    for d in "$sp"/nvidia/*/lib; do
        [ -d "$d" ] && libs="$libs:$d"
    done
done
if ! ls ${libs//:/ } 2>/dev/null | grep -q '^libcurand\.so\.10'; then
    libs="$libs:$DIR/stub"
fi
export LD_LIBRARY_PATH="${libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Which binaries and device: the cuda build on cuda:0 if it opens a GPU.
device=cuda:0
bin=$DIR
fallback=""
if [ ! -x "$DIR/w2s-bench" ]; then
    fallback="no $DIR/w2s-bench (run scripts/build-cuda.sh where cargo is)"
# The extraction benchmark is the probe: it opens the GPU first, and its
# figures are kept when it runs.
elif ! "$DIR/w2s-bench" --device cuda:0 --extraction >"$OUT/extraction.json" 2>"$OUT/probe.err"; then
    fallback="no usable GPU: $(tail -n1 "$OUT/probe.err" | cut -c1-200)"
fi
if [ -n "$fallback" ]; then
    device=cpu
    bin=target/debug
    [ -x "$bin/w2s" ] && [ -x "$bin/w2s-bench" ] || {
        echo "error: $fallback, and no CPU build in $bin either (cargo build -p w2s-cli -p w2s-bench)" >&2
        exit 1
    }
fi
wasm=$DIR/vanilla.wasm
[ -f "$wasm" ] || wasm=plugins/target/wasm32-wasip2/release/vanilla.wasm
[ -f "$wasm" ] || { echo "error: no vanilla.wasm in $DIR or plugins/target" >&2; exit 1; }

echo "gpu-check: device $device, binaries in $bin${fallback:+ ($fallback)}" >&2
"$bin/w2s" eval "$wasm" --device "$device" --json "$OUT/device.json" >/dev/null
"$bin/w2s" eval "$wasm" --device cpu --json "$OUT/cpu.json" >/dev/null
"$bin/w2s-bench" --device "$device" --throughput-only >"$OUT/throughput.json"
if [ -n "$fallback" ]; then
    "$bin/w2s-bench" --device "$device" --extraction >"$OUT/extraction.json"
fi

python3 - "$OUT" "$device" "$fallback" <<'EOF'
import json, sys
out, device, fallback = sys.argv[1:4]
load = lambda name: json.load(open(f"{out}/{name}.json"))
dev, cpu, tp, ex = load("device"), load("cpu"), load("throughput"), load("extraction")
gpu = dev.get("gpu") or tp.get("gpu") or "none"
rows = []
ok = True
for part in ("public", "private"):
    d, c = dev["score"][part]["pgr"], cpu["score"][part]["pgr"]
    lo, hi = c["ci95"]
    inside = lo <= d["mean"] <= hi
    ok &= inside
    rows.append((f"vanilla, default task, PGR ({part})",
                 f"{d['mean']:.4f}", f"CPU {c['mean']:.4f} [{lo:.4f}, {hi:.4f}]",
                 "inside the CPU's 95% interval" if inside else "OUTSIDE the CPU's 95% interval"))
for head in ("linear", "mlp"):
    ours, theirs = tp[f"{head}_examples_per_s"], tp[f"torch_{head}_examples_per_s"]
    ratio = f"{ours / theirs:.2f}x PyTorch" if theirs else f"PyTorch missing: {tp['torch_missing']}"
    rows.append((f"train step, {head} head (examples/s)", f"{ours:.0f}",
                 f"PyTorch {theirs:.0f}" if theirs else "PyTorch -", ratio))
for e in ex["extraction"]:
    theirs = e["torch_tokens_per_s"]
    rows.append((f"feature extraction, {e['workload']} model (tokens/s)", f"{e['tokens_per_s']:.0f}",
                 f"transformers {theirs:.0f}" if theirs else "transformers -",
                 f"{e['tokens_per_s'] / theirs:.2f}x" if theirs else f"transformers missing: {e['torch_missing']}"))
print(f"device {device}, GPU {gpu}" + (f" (fell back to the CPU: {fallback})" if fallback else ""))
print(f"shapes {tp['shapes']}, PyTorch {tp.get('torch_version')}")
print()
print("| check | w2s | reference | verdict |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
sys.exit(0 if ok else 1)
EOF
