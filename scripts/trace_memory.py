"""Trace what PyTorch keeps and allocates in a training step, on the CPU, from a model config.

The estimator's training constants (bytes each layer saves for backward per token, the eager
attention's per-score bytes, the loss's bytes per logit, the optimizer step's temporary) cite this
script: anyone with the `measure` extra (torch, transformers, peft) can rerun it. It builds a small
model of each architecture from its config with random weights, then

- **saved for backward**: ``torch.autograd.graph.saved_tensors_hooks`` records every tensor autograd
  keeps during the forward pass; storages are counted once, parameters not at all, and each is
  attributed to the decoder layer running when it was saved (hooks on the layers), so the bytes per
  token per layer come out exactly, for full fine-tuning and for LoRA (peft), with SDPA and with
  eager attention, and the loss's share outside the layers;
- **optimizer step**: a ``TorchDispatchMode`` counts the storages the step creates and frees (weak
  references on the tensors), giving the peak of temporaries beyond the parameters, gradients and
  states that existed before the step.

The CPU kernels stand in for CUDA's: SDPA saves the query, key, value, output and the fp32
log-sum-exp as the CUDA flash/memory-efficient kernels do; the allocator's rounding and cuBLAS
workspaces are not modelled (docs/method.md covers them as overhead).

Usage: .venv/bin/python scripts/trace_memory.py [--out validation/traces/cpu-trace.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import weakref
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

OUT = Path(__file__).resolve().parents[1] / "validation" / "traces" / "cpu-trace.json"

# small Llama-shaped configs that vary one dimension at a time, so each term's coefficient shows
BASE = {"hidden_size": 256, "intermediate_size": 688, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 3, "vocab_size": 1000, "max_position_embeddings": 4096, "tie_word_embeddings": False}
CONFIGS = {
    "base": {},
    "wider": {"hidden_size": 384, "num_attention_heads": 6, "num_key_value_heads": 3},
    "mlp": {"intermediate_size": 1024},
    "kv": {"num_key_value_heads": 4},
    "heads": {"num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64},
}
SEQ, BATCH = 64, 2


def build(overrides: dict[str, Any], attn: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**{**BASE, **overrides}, attn_implementation=attn)
    return cfg, LlamaForCausalLM(cfg).to(torch.bfloat16).train()


def saved_for_backward(model, tokens: torch.Tensor) -> dict[str, Any]:
    """Bytes autograd keeps, per decoder layer and outside them, from one forward with a loss."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    current: list[int | None] = [None]
    seen: dict[int, tuple[int | None, int]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in seen:
            seen[ptr] = (current[0], t.untyped_storage().nbytes())
        return t

    layers = model.base_model.model.model.layers if hasattr(model, "peft_config") else model.model.layers
    hooks = []
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(lambda m, a, i=i: current.__setitem__(0, i)))
        hooks.append(layer.register_forward_hook(lambda m, a, o: current.__setitem__(0, None)))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=tokens, labels=tokens)
    for h in hooks:
        h.remove()
    per_layer = [sum(b for lay, b in seen.values() if lay == i) for i in range(len(layers))]
    return {"per_layer": per_layer, "outside": sum(b for lay, b in seen.values() if lay is None)}


class LiveBytes(TorchDispatchMode):
    """Storages created inside the mode, alive now and at the peak (tensors' weak references)."""

    def __init__(self, existing: set[int]) -> None:
        super().__init__()
        self.existing, self.refs, self.size = existing, {}, {}
        self.now = self.peak = 0

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key == 0 or key in self.existing:
            return
        if key not in self.size:
            self.size[key], self.refs[key] = storage.nbytes(), 0
            self.now += storage.nbytes()
            self.peak = max(self.peak, self.now)
        self.refs[key] += 1
        weakref.finalize(t, self._drop, key)

    def _drop(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            self.now -= self.size.pop(key)
            del self.refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out


def optimizer_temporary(name: str, numel: int = 1 << 18, tensors: int = 4) -> float:
    """Peak bytes per parameter the step allocates beyond parameters, gradients and states (fp32)."""
    params = [torch.nn.Parameter(torch.randn(numel)) for _ in range(tensors)]
    for p in params:
        p.grad = torch.randn(numel)
    make = {
        "adamw": lambda: torch.optim.AdamW(params, foreach=True),
        "adamw-for-loop": lambda: torch.optim.AdamW(params, foreach=False),
        "sgd-momentum": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9, foreach=True),
        "adafactor": lambda: torch.optim.Adafactor(params, foreach=False),
    }
    opt = make[name]()
    opt.step()  # the states exist from the first step on
    existing = {t.untyped_storage().data_ptr() for p in params for t in (p, p.grad)}
    existing |= {v.untyped_storage().data_ptr() for s in opt.state.values() for v in s.values()
                 if isinstance(v, torch.Tensor)}
    live = LiveBytes(existing)
    with live:
        opt.step()
    return live.peak / (numel * tensors)


def peak_bytes(overrides: dict[str, Any], attn: str, seq: int, step: str) -> int:
    """Peak bytes of tensors alive beyond the parameters: a no-grad forward ("inference"), a training
    forward ("forward") or a forward with the loss and its backward ("backward")."""
    _, model = build({"num_hidden_layers": 1, **overrides}, attn)
    ids = torch.randint(0, model.config.vocab_size, (1, seq))
    live = LiveBytes({p.untyped_storage().data_ptr() for p in model.parameters()})
    if step == "inference":
        model.eval()
        with live, torch.no_grad():
            model(input_ids=ids, use_cache=False)
    else:
        with live:
            out = model(input_ids=ids, labels=ids)
            if step == "backward":
                out.loss.backward()
    return live.peak


def eager_score_bytes() -> dict[str, float]:
    """Bytes per attention score (batch x heads x seq^2) that eager attention adds to the peak of one
    layer over SDPA's: two lengths solve the seq^2 and seq terms apart."""
    out = {}
    heads = BASE["num_attention_heads"]
    for step in ("inference", "forward", "backward"):
        d = [peak_bytes({"vocab_size": 64}, "eager", s, step) - peak_bytes({"vocab_size": 64}, "sdpa", s, step)
             for s in (256, 512)]
        out[step] = (d[1] - 2 * d[0]) / (heads * (512**2 - 2 * 256**2))
    return out


def loss_bytes_per_logit(vocab: int = 32000) -> float:
    """Bytes per logit (token x vocabulary entry) at the peak of forward + loss + backward: two lengths
    solve the tokens x vocab term; the one layer's own per-token bytes are subtracted."""
    d = peak_bytes({"vocab_size": vocab}, "sdpa", 256, "backward") - peak_bytes({"vocab_size": vocab}, "sdpa", 128, "backward")
    return d / (128 * vocab)


def step_peak(in_backward: bool, seq: int = 8) -> int:
    """Peak bytes beyond the parameters and the optimizer's states over one forward, backward and AdamW
    step of the base config, in bf16; with ``in_backward`` each parameter is stepped and its gradient
    freed as soon as it is made (PyTorch's post-accumulate-grad hooks, as torchtune's optimizer_in_bwd)."""
    _, model = build({}, "sdpa")
    params = list(model.parameters())
    ids = torch.randint(0, BASE["vocab_size"], (1, seq))
    if in_backward:
        optimizers = {p: torch.optim.AdamW([p], foreach=True) for p in params}

        def step(p):
            optimizers[p].step()
            optimizers[p].zero_grad(set_to_none=True)

        for p in params:
            p.register_post_accumulate_grad_hook(step)
        model(input_ids=ids, labels=ids).loss.backward()  # creates the states
        states = [v for o in optimizers.values() for s in o.state.values() for v in s.values()]
    else:
        opt = torch.optim.AdamW(params, foreach=True)
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        states = [v for s in opt.state.values() for v in s.values()]
    existing = {t.untyped_storage().data_ptr() for t in [*params, *states] if isinstance(t, torch.Tensor)}
    live = LiveBytes(existing)
    with live:
        model(input_ids=ids, labels=ids).loss.backward()
        if not in_backward:
            opt.step()
            opt.zero_grad(set_to_none=True)
    return live.peak


def lora(model, rank: int, targets: list[str]):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, lora_dropout=0.0))


class MatMul4BitKeepsInput(torch.autograd.Function):
    """bitsandbytes 0.41.0-0.43.1's MatMul4Bit (bitsandbytes/autograd/_functions.py, e.g. 0.42.0 lines
    514-525): forward computes linear(A, dequantize_4bit(B).to(A.dtype).t()) and keeps
    ``ctx.tensors = (A, B)`` whenever A or B needs a gradient, so a frozen 4-bit layer's input stays
    alive until its backward; 0.43.2 keeps ``(None, B)`` (commit 9e75374, "fix QLoRA mem bug: delete
    useless buffered activation", #1270). bitsandbytes holds A as a ctx attribute, which
    saved_tensors_hooks do not see, so this stand-in saves the same tensor with save_for_backward."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.weight = weight
        if any(ctx.needs_input_grad[:2]):
            ctx.save_for_backward(a)
        return torch.nn.functional.linear(a, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad @ ctx.weight, None


def bnb_before_0432(model):
    """Every frozen linear of the decoder layers computes as bitsandbytes < 0.43.2's 4-bit layer does
    (transformers quantizes those and keeps lm_head 16-bit); the adapters are untouched."""
    import types

    layers = model.base_model.model.model.layers
    for layer in layers:
        for mod in layer.modules():
            if isinstance(mod, torch.nn.Linear) and not mod.weight.requires_grad:
                mod.forward = types.MethodType(lambda self, x: MatMul4BitKeepsInput.apply(x, self.weight), mod)
    return model


def run() -> dict[str, Any]:
    import peft
    import transformers

    tokens = torch.randint(0, BASE["vocab_size"], (BATCH, SEQ))
    out: dict[str, Any] = {
        "what": "bytes saved for backward per decoder layer (bf16 model, one forward with labels) and the "
                "optimizer step's peak temporary per parameter; scripts/trace_memory.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "python": platform.python_version()},
        "tokens": {"batch": BATCH, "seq": SEQ},
        "configs": {name: {**BASE, **o} for name, o in CONFIGS.items()},
        "saved": {},
    }
    for name, overrides in CONFIGS.items():
        for attn in ("sdpa", "eager"):
            _, model = build(overrides, attn)
            out["saved"][f"{name}/full/{attn}"] = saved_for_backward(model, tokens)
        _, model = build(overrides, "sdpa")
        out["saved"][f"{name}/lora-qv/sdpa"] = saved_for_backward(lora(model, 8, ["q_proj", "v_proj"]), tokens)
        _, model = build(overrides, "sdpa")
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        out["saved"][f"{name}/lora-all/sdpa"] = saved_for_backward(lora(model, 8, targets), tokens)
        # QLoRA on bitsandbytes < 0.43.2 (no kbit upcast): the frozen 4-bit layers keep their inputs
        for mode, tg in (("qv", ["q_proj", "v_proj"]), ("all", targets)):
            _, model = build(overrides, "sdpa")
            out["saved"][f"{name}/qlora-bnb041-{mode}/sdpa"] = saved_for_backward(
                bnb_before_0432(lora(model, 8, tg)), tokens)
    # eager attention at a second length: the seq² term's coefficient
    _, model = build({}, "eager")
    out["saved"]["base/full/eager/seq128"] = saved_for_backward(model, torch.randint(0, BASE["vocab_size"], (BATCH, 128)))
    out["step_peak_bytes"] = {"after_backward": step_peak(False), "in_backward": step_peak(True), "seq": 8}
    out["eager_score_bytes"] = eager_score_bytes()
    out["loss_bytes_per_logit_with_one_layer"] = loss_bytes_per_logit()
    out["optimizer_temporary_bytes_per_param"] = {
        name: optimizer_temporary(name) for name in ("adamw", "adamw-for-loop", "sgd-momentum", "adafactor")}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for key, v in result["saved"].items():
        print(f"{key:28s} per layer {v['per_layer']}  outside {v['outside']}")
    print("eager attention, bytes per score at the peak:", result["eager_score_bytes"])
    print("loss, bytes per logit at the peak (one layer's per-token bytes included):",
          round(result["loss_bytes_per_logit_with_one_layer"], 3))
    print("optimizer temporaries (B/param):", result["optimizer_temporary_bytes_per_param"])
    print("one training step's peak beyond parameters and states, optimizer after / in backward:",
          result["step_peak_bytes"])
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
