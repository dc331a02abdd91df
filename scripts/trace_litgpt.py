"""Trace what LitGPT's own GPT (and its LoRA) keeps for backward per token per layer, on the CPU.

The estimate's per-layer term (components.training_activations) is the trace of transformers' Llama layer
with PEFT's LoRA (scripts/trace_memory.py). LitGPT does not run that code: its finetune scripts build
litgpt.model.GPT / litgpt.lora.GPT. This script records, the same way (saved_tensors_hooks, storages counted
once, parameters not at all), what one decoder block of LitGPT's model keeps, for the configs of the LitGPT
validation points, so the two layers can be compared (docs/accuracy.md). It is evidence, not an input: no
constant of the estimate comes from it yet.

LitGPT's source is not vendored. Extract the three modules at the commit a point cites, e.g.

    mkdir -p /tmp/lit/litgpt && touch /tmp/lit/litgpt/__init__.py
    for f in model config lora; do git -C litgpt show 00af8b0:litgpt/$f.py > /tmp/lit/litgpt/$f.py; done
    .venv/bin/python scripts/trace_litgpt.py --src /tmp/lit [--out validation/traces/litgpt-cpu-trace.json]

litgpt/utils.py pulls in Lightning; when it is absent a stand-in provides the two helpers config.py and
lora.py import (find_multiple, map_old_state_dict_weights), with the same behaviour.

The block traced is the second of two: the first block's input (the frozen embedding's output) needs no
gradient, so under LoRA its frozen layers save less than every later block does. Vocabulary 512 (the
loss is outside the blocks). bf16 weights (precision bf16-true), train mode, the points' LoRA settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path
from typing import Any

import torch

ALL = {"lora_query": True, "lora_key": True, "lora_value": True, "lora_projection": True, "lora_mlp": True,
       "lora_head": True}
QV = {"lora_query": True, "lora_value": True}
# (LitGPT config name, mode, LoRA switches, rank, dropout, tokens per sequence): the LitGPT points' settings
# (config_hub/finetune/*.yaml @ 00af8b0; finetune/lora.py defaults @ lit-gpt 8641822)
CASES = {
    "tinyllama-full": ("tiny-llama-1.1b", "full", {}, 0, 0.0, 512),
    "tinyllama-lora-r32-all": ("tiny-llama-1.1b", "lora", ALL, 32, 0.05, 512),
    "phi2-lora-r8-all": ("phi-2", "lora", ALL, 8, 0.05, 512),
    "gemma-2b-lora-r8-all": ("gemma-2b", "lora", ALL, 8, 0.1, 512),
    "gemma-2-2b-lora-r8-all": ("gemma-2-2b", "lora", ALL, 8, 0.1, 512),
    "falcon-7b-lora-r32-qv": ("falcon-7b", "lora", QV, 32, 0.05, 512),
    "llama2-7b-lora-r8-qv": ("Llama-2-7b-hf", "lora", QV, 8, 0.05, 1304),
    "llama2-13b-lora-r8-qv": ("Llama-2-13b-hf", "lora", QV, 8, 0.05, 1304),
}


def _import_litgpt(src: Path) -> tuple[Any, Any, Any]:
    sys.path.insert(0, str(src))
    try:
        import litgpt.utils  # noqa: F401
    except ImportError:  # the stand-in: the two helpers config.py and lora.py use
        stub = types.ModuleType("litgpt.utils")

        def find_multiple(n: int, k: int) -> int:
            return n if n % k == 0 else n + k - (n % k)

        def map_old_state_dict_weights(state_dict: dict, mapping: dict, prefix: str) -> dict:
            for old, new in mapping.items():
                if prefix + old in state_dict:
                    state_dict[prefix + new] = state_dict.pop(prefix + old)
            return state_dict

        stub.find_multiple = find_multiple  # type: ignore[attr-defined]
        stub.map_old_state_dict_weights = map_old_state_dict_weights  # type: ignore[attr-defined]
        sys.modules["litgpt.utils"] = stub
    import litgpt.lora as lora
    from litgpt.config import Config
    from litgpt.model import GPT

    return Config, GPT, lora


def block_bytes_per_token(Config: Any, GPT: Any, lora: Any, name: str, mode: str, switches: dict, rank: int,
                          dropout: float, tokens: int) -> float:
    torch.manual_seed(0)
    if mode == "full":
        model = GPT(Config.from_name(name, n_layer=2, padded_vocab_size=512, vocab_size=512))
    else:
        cfg = lora.Config.from_name(name, n_layer=2, padded_vocab_size=512, vocab_size=512, lora_r=rank,
                                    lora_alpha=16, lora_dropout=dropout, **switches)
        model = lora.GPT(cfg)
        lora.mark_only_lora_as_trainable(model)
    model = model.to(torch.bfloat16).train()
    model.max_seq_length = tokens
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    inside = [False]
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if inside[0] and ptr not in params and ptr not in seen:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    block = model.transformer.h[1]
    block.register_forward_pre_hook(lambda *_: inside.__setitem__(0, True))
    block.register_forward_hook(lambda *_: inside.__setitem__(0, False))
    idx = torch.randint(0, 512, (1, tokens))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        # finetune/lora.py calls model(input_ids, lm_head_chunk_size=128); full.py model(input_ids)
        model(idx, lm_head_chunk_size=128) if mode != "full" else model(idx)
    return sum(seen.values()) / tokens


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, required=True, help="a folder holding LitGPT's litgpt package")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    a = ap.parse_args()
    Config, GPT, lora = _import_litgpt(a.src)
    results = {}
    for key, (name, mode, switches, rank, dropout, tokens) in CASES.items():
        results[key] = {"config": name, "mode": mode, "lora_r": rank, "lora_dropout": dropout, "tokens": tokens,
                        "bytes_per_token_per_layer": block_bytes_per_token(Config, GPT, lora, name, mode, switches,
                                                                           rank, dropout, tokens)}
        print(key, results[key]["bytes_per_token_per_layer"], flush=True)
    if a.out:
        a.out.write_text(json.dumps({"torch": torch.__version__, "cases": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
