#!/usr/bin/env python3
"""Expected hidden states of the tiny random models, from Hugging Face
`transformers` (CPU, f32, eager attention), for `lm/tests/reference.rs`.

The models are the ones `cargo run -p w2s-lm --example write_tiny_models`
writes (seed 7, byte-identical on every machine), so both sides read the
same files:

    cargo run -p w2s-lm --example write_tiny_models -- /tmp/tiny-models
    python3 lm/reference/make_reference.py /tmp/tiny-models > lm/reference/expected.json

For each family it records the token ids (the `tokenizers` library's
encoding, special tokens added), the sha256 of the weight file, and for
every layer l in 0..=num_layers (transformers' `hidden_states[l]`: 0 is the
embeddings, the last one is after the final norm) the last-token and mean
pooled states of each text of a right-padded batch; and the full states of
the longest text at layer 1. Values are written with 9 significant digits
(f32 needs at most 9 to round-trip).
"""

import hashlib
import json
import re
import sys
from pathlib import Path

import tokenizers
import torch
import transformers
from transformers import AutoModel

TEXTS = [
    "Question: is 2 + 2 = 4?\nAnswer: yes\nLabel:",
    "Hi",
    "Ünïcödé and tabs\tstay bytes.",
]
FAMILIES = ["llama", "mistral", "qwen2", "qwen3"]
FULL_LAYER = 1


def g9(x):
    return float(f"{x:.9g}")


def rows(t):
    return [[g9(v) for v in row] for row in t.tolist()]


def family_reference(root: Path, family: str):
    d = root / family
    tok = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    ids = [tok.encode(t, add_special_tokens=True).ids for t in TEXTS]
    seq = max(len(i) for i in ids)
    input_ids = torch.tensor([i + [0] * (seq - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (seq - len(i)) for i in ids])
    model = AutoModel.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    lens = [len(i) for i in ids]
    layers = []
    for layer, h in enumerate(out.hidden_states):
        last = torch.stack([h[b, n - 1] for b, n in enumerate(lens)])
        mean = torch.stack([h[b, :n].mean(0) for b, n in enumerate(lens)])
        layers.append({"layer": layer, "last_token": rows(last), "mean": rows(mean)})
    longest = max(range(len(ids)), key=lambda b: lens[b])
    full = out.hidden_states[FULL_LAYER][longest, : lens[longest]]
    weights = (d / "model.safetensors").read_bytes()
    return {
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "ids": ids,
        "layers": layers,
        "full_layer": FULL_LAYER,
        "full_text": longest,
        "full": rows(full),
    }


def main():
    root = Path(sys.argv[1])
    doc = {
        "generated_by": "lm/reference/make_reference.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "texts": TEXTS,
        "families": {f: family_reference(root, f) for f in FAMILIES},
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    # One line per vector: readable diffs without a number per line.
    text = re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
