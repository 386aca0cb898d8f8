"""Converts a GGUF file to a Hugging Face directory (config.json, tokenizer.json,
model.safetensors) with transformers' own GGUF loader (dequantized to f32).

The real tasks of docs/RESULTS-real.md were built from directories made by
this script, before `w2s task build` read GGUF files itself. The weights are
the GGUF's 4- to 8-bit blocks dequantized to f32: a real model, not the bf16
original. Needs torch, transformers, gguf and safetensors (never in CI).

Usage: python3 scripts/gguf-to-hf.py MODEL.gguf OUT_DIR
"""
import json, sys, os, pathlib
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from safetensors.torch import save_file

gguf, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
tok.save_pretrained(out)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
model.config.architectures = [type(model).__name__]
model.config.save_pretrained(out)
sd = {k: v.contiguous() for k, v in model.state_dict().items()}
if model.config.tie_word_embeddings and "lm_head.weight" in sd:
    del sd["lm_head.weight"]
save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
(out / "DONE").write_text(f"converted from {gguf.name} by transformers {__import__('transformers').__version__}\n")
print("ok", out, len(sd))
