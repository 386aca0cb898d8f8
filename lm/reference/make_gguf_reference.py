"""Reference numbers for the GGUF tests (`lm/tests/gguf_real.rs`), from
Hugging Face `transformers` loading the same GGUF files.

Run with a Python that has torch, transformers and gguf (not needed in CI:
the output is committed):

    scripts/fetch-real-models.sh --qwen
    python lm/reference/make_gguf_reference.py .w2s/real

It writes `lm/reference/gguf_expected.json`:
- `smollm2.ids` / `qwen2.ids`: `AutoTokenizer.from_pretrained(dir,
  gguf_file=...)`'s ids (special tokens added as by default) for every line
  of `gguf_corpus.json`;
- `smollm2.layers`: SmolLM2-135M-Instruct Q4_1 (dequantized by transformers
  to f32), hidden states (`output_hidden_states`, eager attention, CPU, f32)
  at two layers, last-token and mean pooled, one text at a time (no
  padding), for the first `HIDDEN_TEXTS` lines of the corpus.

These are numbers of the dequantized 4-bit model, not of the bf16
SmolLM2-135M-Instruct checkpoint.
"""

import hashlib
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN2 = "qwen2.5-coder-0.5b-instruct.gguf"
LAYERS = [8, 30]
HIDDEN_TEXTS = 12


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ids(root, name, corpus):
    tok = AutoTokenizer.from_pretrained(root, gguf_file=name)
    return [tok(line).input_ids for line in corpus]


def hidden(root, name, corpus):
    tok = AutoTokenizer.from_pretrained(root, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        root, gguf_file=name, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    out = {layer: {"last_token": [], "mean": []} for layer in LAYERS}
    with torch.no_grad():
        for text in corpus[:HIDDEN_TEXTS]:
            enc = tok(text, return_tensors="pt")
            states = model(**enc, output_hidden_states=True).hidden_states
            for layer in LAYERS:
                h = states[layer][0]
                out[layer]["last_token"].append(h[-1].tolist())
                out[layer]["mean"].append(h.mean(dim=0).tolist())
    return [{"layer": layer, **out[layer]} for layer in LAYERS]


def main():
    root = sys.argv[1]
    torch.manual_seed(0)
    with open(os.path.join(HERE, "gguf_corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    result = {
        "smollm2": {
            "file": SMOLLM2,
            "sha256": sha256(os.path.join(root, SMOLLM2)),
            "ids": ids(root, SMOLLM2, corpus),
            "hidden_texts": HIDDEN_TEXTS,
            "layers": hidden(root, SMOLLM2, corpus),
        }
    }
    if os.path.exists(os.path.join(root, QWEN2)):
        result["qwen2"] = {
            "file": QWEN2,
            "sha256": sha256(os.path.join(root, QWEN2)),
            "ids": ids(root, QWEN2, corpus),
        }
    import transformers

    result["generator"] = (
        f"lm/reference/make_gguf_reference.py, transformers {transformers.__version__}, "
        f"torch {torch.__version__}, CPU, f32, eager attention"
    )
    with open(os.path.join(HERE, "gguf_expected.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
