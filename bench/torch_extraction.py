#!/usr/bin/env python3
"""PyTorch CPU twin of w2s-bench's extraction benchmark (bench/src/extraction.rs).

Reads the random-weight model directory the Rust side wrote (config.json,
model.safetensors, tokenizer.json) with transformers' AutoModel (f32, eager
attention, inference mode) and the texts it wrote (a JSON list), tokenizes
them with the `tokenizers` library (the same ids as w2s-lm), and runs them
in batches of --batch, right-padded with an attention mask, through the
whole stack (last_hidden_state: w2s-lm's layer num_layers). One untimed
pass, then --repeats timed passes; the fastest counts (the least disturbed
by other processes on a shared machine). Prints one JSON object: real
tokens per second.

    python3 bench/torch_extraction.py MODEL_DIR TEXTS.json --batch 8 --repeats 3 --threads 2
    python3 bench/torch_extraction.py MODEL_DIR TEXTS.json --device cuda   # on the GPU (synchronised)
    python3 bench/torch_extraction.py HF_DIR TEXTS.json --layer 12 --warmup-batches 1   # a real model, cut at layer 12

--layer L loads only the first L blocks (config override num_hidden_layers=L)
and, below the top of the stack, drops the final norm: the hidden states
w2s-lm's layer L returns, for the same work. --warmup-batches N makes the
untimed pass only N batches (real models are slow). The output also gives
the process's peak resident memory (ru_maxrss).
"""

import argparse
import json
import resource
import time

import tokenizers
import torch
import transformers
from transformers import AutoModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("texts")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--warmup-batches", type=int, default=None)
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    torch.set_num_threads(a.threads)
    tok = tokenizers.Tokenizer.from_file(f"{a.model}/tokenizer.json")
    texts = json.load(open(a.texts))
    ids = [tok.encode(t, add_special_tokens=True).ids for t in texts]
    batches = []
    for start in range(0, len(ids), a.batch):
        chunk = ids[start:start + a.batch]
        seq = max(len(i) for i in chunk)
        batches.append((
            torch.tensor([i + [0] * (seq - len(i)) for i in chunk], device=dev),
            torch.tensor([[1] * len(i) + [0] * (seq - len(i)) for i in chunk], device=dev),
        ))
    tokens = sum(len(i) for i in ids)
    kwargs = {}
    if a.layer is not None:
        total = json.load(open(f"{a.model}/config.json"))["num_hidden_layers"]
        kwargs["num_hidden_layers"] = a.layer
    model = AutoModel.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager", **kwargs)
    if a.layer is not None and a.layer < total:
        model.norm = torch.nn.Identity()
    model.to(dev)
    model.eval()

    def one_pass(limit=None):
        with torch.inference_mode():
            for input_ids, mask in batches[:limit]:
                model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        sync()

    one_pass(a.warmup_batches)
    fastest = float("inf")
    for _ in range(a.repeats):
        t = time.perf_counter()
        one_pass()
        fastest = min(fastest, time.perf_counter() - t)
    print(json.dumps({
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": a.threads,
        "device": a.device,
        "tokens": tokens,
        "tokens_per_s": tokens / fastest,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
