#!/usr/bin/env python3
"""PyTorch CPU twin of w2s-bench's throughput benchmark (bench/src/throughput.rs).

Same shapes and work per step as the Rust side: gather the batch's rows of a
fixed random feature matrix, forward a linear probe or a two-layer MLP
(ReLU), soft-label cross-entropy against one-hot targets (mean over rows),
backward, one AdamW step (lr 1e-3, weight decay 0.01, betas 0.9/0.999,
eps 1e-8). One untimed epoch, then --epochs timed epochs, each a fresh
permutation; the fastest timed epoch counts (the least disturbed by other
processes on a shared machine). Prints one JSON object: training examples
per second per head. With --device cuda everything lives on the GPU and
each epoch ends with a synchronisation (the GPU runs asynchronously).

    python3 bench/torch_throughput.py --threads 2
    python3 bench/torch_throughput.py --threads 2 --device cuda
"""

import argparse
import json
import time

import torch


def throughput(model, x, targets, batch, epochs, sync):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01,
                            betas=(0.9, 0.999), eps=1e-8)
    n = x.shape[0]

    def epoch():
        order = torch.randperm(n, device=x.device)
        for start in range(0, n, batch):
            ix = order[start:start + batch]
            logits = model(x[ix])
            loss = torch.nn.functional.cross_entropy(logits, targets[ix])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()

    epoch()
    fastest = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        fastest = min(fastest, time.perf_counter() - start)
    return n / fastest


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    if a.device == "cuda":
        sync = torch.cuda.synchronize
        gpu = torch.cuda.get_device_name(0)
    else:
        sync = lambda: None
        gpu = None
    x = torch.randn(a.n, a.d).to(dev)
    labels = torch.randint(0, a.classes, (a.n,))
    targets = torch.nn.functional.one_hot(labels, a.classes).float().to(dev)
    linear = torch.nn.Linear(a.d, a.classes).to(dev)
    mlp = torch.nn.Sequential(torch.nn.Linear(a.d, a.hidden), torch.nn.ReLU(),
                              torch.nn.Linear(a.hidden, a.classes)).to(dev)
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": a.device,
        "gpu": gpu,
        "linear_examples_per_s": throughput(linear, x, targets, a.batch, a.epochs, sync),
        "mlp_examples_per_s": throughput(mlp, x, targets, a.batch, a.epochs, sync),
    }))


if __name__ == "__main__":
    main()
