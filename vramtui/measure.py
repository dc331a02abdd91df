"""``vramtui measure``: build the scenario's model from its architecture with random weights, run it
on a local device, and put the measured peak next to the estimate.

Needs the optional ``measure`` extra (torch, transformers, peft); nothing is downloaded. Only the
architectures transformers can build from a ModelSpec without a checkpoint are supported (Llama,
Qwen2, Qwen3 and Mixtral shapes), in fp32/fp16/bf16. On the CPU the harness runs (that is what the
tests check) but memory is not comparable with a GPU's, so only the process's resident-set growth is
reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .core.methods import estimate
from .core.model import ModelSpec
from .core.presets import gpu as gpu_preset
from .core.scenario import Scenario
from .core.setup import Setup

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# peft's target names are the Llama module names, which these architectures share
SUPPORTED = "Llama-, Qwen2-, Qwen3- and Mixtral-shaped models (dense or MoE without shared experts, no MLA, gated MLP)"


class MeasureError(RuntimeError):
    """Cannot measure here: missing extra, no GPU, unsupported architecture. Printed as one line."""


@dataclass
class Measurement:
    device: str
    seconds: float
    max_allocated: int | None = None  # torch.cuda.max_memory_allocated
    max_reserved: int | None = None  # torch.cuda.max_memory_reserved
    device_used: int | None = None  # total - free from cudaMemGetInfo: what nvidia-smi shows for the process
    rss_growth: int | None = None  # CPU runs: resident-set growth of this process
    estimate: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return self.__dict__.copy()


def _imports():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MeasureError(f"{exc.name} is not installed; install the extra: pip install 'vramtui[measure]'") from None
    return torch, transformers


def hf_config(spec: ModelSpec, transformers) -> Any:
    """A transformers config with exactly the architecture the estimator counts."""
    if spec.is_mla or not spec.mlp_gated or spec.num_shared_experts or spec.shared_expert_intermediate_size:
        raise MeasureError(f"measure supports {SUPPORTED}; {spec.name} is not one")
    if spec.norm_bias or spec.position_embeddings or spec.norms_per_layer != 2 or spec.lm_head_bias or spec.attention_sinks:
        raise MeasureError(f"measure supports {SUPPORTED}; {spec.name} is not one")
    common = dict(
        vocab_size=spec.vocab_size, hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers, num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.kv_heads, head_dim=spec.head_size, max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
    )
    if spec.is_moe:
        return transformers.MixtralConfig(**common, num_local_experts=spec.num_experts,
                                          num_experts_per_tok=spec.num_experts_per_tok)
    if spec.qk_norm == "head":
        return transformers.Qwen3Config(**common, attention_bias=spec.qkv_bias)
    if spec.qkv_bias and not spec.o_bias:
        return transformers.Qwen2Config(**common)
    if spec.qk_norm != "none":
        raise MeasureError(f"measure supports {SUPPORTED}; {spec.name} is not one")
    return transformers.LlamaConfig(**common, attention_bias=spec.qkv_bias, mlp_bias=spec.mlp_bias)


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(s: Scenario, device: str = "cuda", new_tokens: int = 8) -> Measurement:
    torch, transformers = _imports()
    w, o = s.workload, s.optimizations
    setup = Setup(s, gpu_preset(s.hardware.verdict_gpu))  # the runtime's defaults for unset settings
    if not setup.runtime.measurable:
        raise MeasureError(f"measure runs transformers models; runtime {setup.runtime.label} has its own engine "
                           "(compare with its start-up log instead)")
    if device == "cuda" and not torch.cuda.is_available():
        raise MeasureError("no GPU: torch sees no CUDA device here; run on a GPU machine (or --device cpu to check the harness)")
    if w.weights not in DTYPES:
        raise MeasureError(f"measure builds fp32/fp16/bf16 models; weights {w.weights!r} need a quantised checkpoint")
    if w.mode == "qlora":
        raise MeasureError("QLoRA needs bitsandbytes quantisation of real weights; measure supports inference, lora and full")
    if o.gpus > 1:
        raise MeasureError("measure runs on one device; set tensor/pipeline/data parallel to 1")
    dtype = getattr(torch, DTYPES["fp32" if w.mode == "full" and w.recipe in ("fp32", "amp") else w.weights])
    config = hf_config(s.model.spec, transformers)
    attn = "sdpa" if setup.flash_attention else "eager"
    torch.manual_seed(0)
    start_rss, t0 = _rss(), time.perf_counter()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    tokens = torch.randint(0, s.model.spec.vocab_size, (w.batch_size, max(1, w.context_length - new_tokens)), device=device)
    if w.mode == "inference":
        model.eval()
        with torch.no_grad():
            model.generate(tokens, attention_mask=torch.ones_like(tokens), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    else:
        _train(torch, model, s, setup, tokens, w.mode)
    if device == "cuda":
        torch.cuda.synchronize()
    m = Measurement(device=device, seconds=time.perf_counter() - t0)
    if device == "cuda":
        free, total = torch.cuda.mem_get_info()
        m.max_allocated = torch.cuda.max_memory_allocated()
        m.max_reserved = torch.cuda.max_memory_reserved()
        m.device_used = total - free
    else:
        m.rss_growth = max(0, _rss() - start_rss)
    e = estimate(s)
    m.estimate = {"allocated": e.allocated_per_gpu, "card": e.per_gpu_bytes, "components": dict(e.per_gpu)}
    return m


def _train(torch, model, s: Scenario, setup: Setup, tokens, mode: str) -> None:
    o = s.optimizations
    if mode == "lora":
        try:
            import peft
        except ImportError:
            raise MeasureError("peft is not installed; install the extra: pip install 'vramtui[measure]'") from None
        model = peft.get_peft_model(model, peft.LoraConfig(r=o.lora_rank, target_modules=list(o.lora_targets)))
    if setup.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if mode == "lora":
            model.enable_input_require_grads()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = {"sgd": lambda: torch.optim.SGD(params, lr=1e-5),
                 "sgd-momentum": lambda: torch.optim.SGD(params, lr=1e-5, momentum=0.9)}.get(
        o.optimizer, lambda: torch.optim.AdamW(params, lr=1e-5))()
    for _ in range(2):  # the second step is the steady state: optimizer states exist
        loss = model(input_ids=tokens, labels=tokens, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
