#!/usr/bin/env python3
"""PyTorch + peft CPU twin of w2s-bench's LoRA step (bench/src/lora_step.rs).

Loads the Hugging Face model directory (AutoModelForCausalLM, f32, eager
attention), wraps it with peft (LoraConfig(r=RANK, lora_alpha=2*RANK, the
seven projections of every block, no dropout)), and times one train step:
the batch's rows (--rows of --tokens ids, the same deterministic ids as the
Rust side), the last token's final hidden state times the output rows of
the two label tokens, the weighted soft cross-entropy, backward, and an
AdamW step over the adapters. One untimed step, then --steps timed ones; the
fastest counts. Prints one JSON object.

    python3 bench/torch_lora.py HF_DIR --rows 8 --tokens 64 --rank 32 --steps 3 --threads 2 --labels 3456,7890
"""

import argparse
import json
import time

import peft
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def token(i, j, vocab):
    return 100 + (i * 7919 + j * 104729) % (vocab - 100)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--labels", default="3456,7890")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    labels = [int(x) for x in a.labels.split(",")]
    model = AutoModelForCausalLM.from_pretrained(
        a.model, dtype=torch.float32, attn_implementation="eager"
    )
    vocab = model.config.vocab_size
    label_rows = model.get_output_embeddings().weight[labels].detach().clone()
    config = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, target_modules=TARGETS, lora_dropout=0.0)
    model = get_peft_model(model, config)
    model.train()
    ids = torch.tensor([[token(i, j, vocab) for j in range(a.tokens)] for i in range(a.rows)])
    mask = torch.ones_like(ids)
    soft = torch.tensor([[0.2 + 0.6 * (i % 2), 0.8 - 0.6 * (i % 2)] for i in range(a.rows)])
    weights = torch.ones(a.rows)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    body = model.base_model.model.model

    def step():
        opt.zero_grad()
        hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state[:, -1, :]
        logits = hidden @ label_rows.T
        ce = -(soft * torch.log_softmax(logits, dim=-1)).sum(-1)
        loss = (weights * ce).sum() / weights.sum()
        loss.backward()
        opt.step()

    step()
    fastest = float("inf")
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        fastest = min(fastest, time.perf_counter() - t)
    print(json.dumps({
        "torch": torch.__version__,
        "peft": peft.__version__,
        "threads": torch.get_num_threads(),
        "steps_per_s": 1.0 / fastest,
    }))


if __name__ == "__main__":
    main()
