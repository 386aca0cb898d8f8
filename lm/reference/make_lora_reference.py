#!/usr/bin/env python3
"""Expected numbers of one LoRA train step, from PyTorch + peft, for
`train/tests/lora_reference.rs`.

The Rust side writes the model, either the tiny random Qwen2 (seed 7, the
same bytes as `make_reference.py` reads) or a copy of a real GGUF
(SmolLM2-135M-Instruct Q4_1, which transformers dequantizes to f32 as our
loader does), and the step's inputs: the spec, the token rows,
soft targets and weights, and the adapters' initial values (`A` from
`LoraStudent::init` with the host's seeded generator, `B` drawn nonzero):

    cargo run -p w2s-train --example write_lora_case -- /tmp/lora-case > /tmp/lora-case/case.json
    python3 lm/reference/make_lora_reference.py /tmp/lora-case > lm/reference/lora_expected.json
    cargo run -p w2s-train --example write_lora_case -- /tmp/lora-real \
        --gguf .w2s/real/SmolLM2-135M-Instruct.Q4_1.gguf > /tmp/lora-real/case.json
    python3 lm/reference/make_lora_reference.py /tmp/lora-real > lm/reference/lora_real_expected.json

This script loads the same model with `transformers` (CPU, f32, eager
attention), wraps it with `peft` (`LoraConfig(r, lora_alpha, use_rslora,
target_modules, layers_to_transform, lora_dropout=0)`), copies the given
`A`/`B` into every adapter, reads the label tokens' next-token logits at
each row's last real token, and computes the weighted soft cross-entropy
`sum_i w_i CE(t_i, softmax(z_i)) / sum_i w_i`, its gradient for every
adapter, and the adapters after one `torch.optim.AdamW` step. It writes
the case's inputs and these outputs (9 significant digits).
"""

import hashlib
import json
import sys
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

MODULES = {
    "q": "self_attn.q_proj",
    "k": "self_attn.k_proj",
    "v": "self_attn.v_proj",
    "o": "self_attn.o_proj",
    "gate": "mlp.gate_proj",
    "up": "mlp.up_proj",
    "down": "mlp.down_proj",
}


def g9(x):
    return float(f"{x:.9g}")


def flat(t):
    return [g9(v) for v in t.detach().reshape(-1).tolist()]


def main(root: Path):
    case = json.loads((root / "case.json").read_text())
    spec = case["spec"]
    source = case.get("model", {"kind": "tiny-qwen2"})
    torch.manual_seed(0)  # unused: every value below is given
    if source["kind"] == "gguf":
        # transformers dequantizes every GGUF block to f32: the reference
        # is the dequantized 4-bit model, as on the Rust side.
        weights_file = root / source["file"]
        model = AutoModelForCausalLM.from_pretrained(
            root,
            gguf_file=source["file"],
            dtype=torch.float32,
            attn_implementation="eager",
        )
    else:
        weights_file = root / "qwen2" / "model.safetensors"
        model = AutoModelForCausalLM.from_pretrained(
            root / "qwen2", dtype=torch.float32, attn_implementation="eager"
        )
    config = LoraConfig(
        r=spec["rank"],
        lora_alpha=spec["alpha"],
        use_rslora=spec["rslora"],
        target_modules=[MODULES[t].split(".")[-1] for t in spec["targets"]],
        layers_to_transform=spec["layers"],
        lora_dropout=0.0,
        bias="none",
    )
    model = get_peft_model(model, config)
    model.eval()  # no dropout anywhere; gradients still flow
    named = dict(model.named_parameters())
    params = []
    i = 0
    for layer in spec["layers"]:
        for t in spec["targets"]:
            base = f"base_model.model.model.layers.{layer}.{MODULES[t]}"
            for part in ["lora_A", "lora_B"]:
                p = named[f"{base}.{part}.default.weight"]
                shape = case["param_shapes"][i]
                assert list(p.shape) == shape, (base, part, p.shape, shape)
                with torch.no_grad():
                    p.copy_(torch.tensor(case["params"][i]).reshape(shape))
                params.append(p)
                i += 1
    assert i == len(case["params"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable) == len(params)

    n, seq = len(case["lens"]), case["seq"]
    ids = torch.tensor(case["ids"]).reshape(n, seq)
    mask = torch.tensor(case["mask"]).reshape(n, seq)
    out = model(input_ids=ids, attention_mask=mask)
    last = torch.tensor(case["lens"]) - 1
    logits = out.logits[torch.arange(n), last][:, case["label_token_ids"]]
    targets = torch.tensor(case["targets"])
    weights = torch.tensor(case["weights"])
    ce = -(targets * torch.log_softmax(logits, dim=-1)).sum(-1)
    loss = (ce * weights).sum() / weights.sum()
    loss.backward()
    grads = [flat(p.grad) for p in params]
    a = case["adamw"]
    opt = torch.optim.AdamW(
        params,
        lr=a["lr"],
        betas=(a["beta1"], a["beta2"]),
        eps=a["eps"],
        weight_decay=a["weight_decay"],
    )
    opt.step()
    weights_sha = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    expected = {
        "generated_by": "lm/reference/make_lora_reference.py",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        "weights_sha256": weights_sha,
        "case": case,
        "logits": flat(logits),
        "loss": g9(loss.item()),
        "grads": grads,
        "params_after_adamw": [flat(p) for p in params],
    }
    if source["kind"] == "gguf":
        # Kept small: the initial adapters are regenerated by the test (A
        # from `LoraStudent::init`, B from the case's seeded stream, as in
        # `write_lora_case`), and the AdamW update, which does not depend
        # on the model, is checked on the tiny case only.
        expected["case"] = {k: v for k, v in case.items() if k != "params"}
        del expected["params_after_adamw"]
    json.dump(expected, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
