"""The guide's formulas, verbatim (shared/spec/vram-guide.txt), as a cross-check method.

Decimal GB throughout, the guide's nominal parameter count (a preset's official count), hidden
size in place of the KV width (no GQA), ×1.2 on weights, and its optimisation factors. Where the
guide's printed totals do not follow from these formulas, this module follows the formulas;
docs/method.md lists the gaps.
"""

from __future__ import annotations

import math

from .estimate import COMPONENTS, Estimate
from .formats import kv_format, weight_format
from .setup import Setup

GB = 10**9
WEIGHT_OVERHEAD = 1.2  # "Why the 20% overhead?" (Model Weights)
CUDA_OVERHEAD = 0.5 * GB  # "CUDA_Overhead = 0.5 GB"
ACTIVATION_FACTOR = {"inference": 0.1, "lora": 0.3, "qlora": 0.3, "full": 1.0}
ADAM_BYTES = {"adamw": 8, "adamw-8bit": 2, "adafactor": 4, "sgd": 0, "sgd-momentum": 4, "lion": 4}
GRAD_BYTES = 2  # "Gradients = Parameters × 2 # FP16 gradients"
FLASH_KV_FACTOR = 0.85  # "Flash Attention reduces KV cache by 10-15%" (it does not: see method.md)
CHECKPOINT_ACT_FACTOR = 0.3  # "With: 2.6 GB activations (70% savings)"


def guide_estimate(setup: Setup) -> Estimate:
    s = setup.s
    m, w, o = s.model.spec, s.workload, s.optimizations
    params = m.parameters or m.total_parameters
    L, hidden = m.num_hidden_layers, m.hidden_size
    B, S = setup.batch, setup.context
    fmt = weight_format(w.weights)
    if fmt.kind == "quant":
        bits = 8.0 if fmt.linear_bits >= 8 else 4.0  # the guide knows 8- and 4-bit integers only
    else:
        bits = fmt.guide_bits or fmt.linear_bits  # its GGUF table, else the format's own bits
    kv_bytes = kv_format(w.kv_cache).bytes_per_elem
    why: dict[str, str] = {}

    if w.mode == "full":
        weights = params * 4 * WEIGHT_OVERHEAD
        why["weights"] = f"{params:,} params × 4 B FP32 master × 1.2"
    elif w.mode == "lora":
        weights = params * 2 * WEIGHT_OVERHEAD
        why["weights"] = f"{params:,} params × 2 B frozen FP16 × 1.2"
    else:
        weights = params * bits / 8 * WEIGHT_OVERHEAD
        why["weights"] = f"{params:,} params × {bits:g} bits ÷ 8 bits per B × 1.2"

    kv = 2 * L * hidden * S * B * kv_bytes
    why["kv_cache"] = f"2 K and V × {L} layers × {hidden:,} hidden × {S:,} tokens × {B} sequences × {kv_bytes:g} B"
    if setup.flash_attention:
        kv *= FLASH_KV_FACTOR
        why["kv_cache"] += " × 0.85 flash-attention claim"
    act_factor = ACTIVATION_FACTOR[w.mode]
    activations = B * S * hidden * L * 2 * act_factor
    why["activations"] = f"{B} sequences × {S:,} tokens × {hidden:,} hidden × {L} layers × 2 B × {act_factor:g} {w.mode} factor"
    if setup.gradient_checkpointing and w.mode != "inference":
        activations *= CHECKPOINT_ACT_FACTOR
        why["activations"] += " × 0.3 checkpointing"

    gradients = optimizer = adapters = 0.0
    trainable = 0
    if w.mode == "full":
        trainable = params
        optimizer = params * ADAM_BYTES[o.optimizer]
        gradients = params * GRAD_BYTES
        why["optimizer_states"] = f"{params:,} params × {ADAM_BYTES[o.optimizer]} B {o.optimizer}"
        why["gradients"] = f"{params:,} params × 2 B FP16"
    elif w.mode in ("lora", "qlora"):
        trainable = 2 * L * hidden * o.lora_rank
        optimizer = trainable * ADAM_BYTES[o.optimizer]
        gradients = trainable * GRAD_BYTES
        why["optimizer_states"] = f"{trainable:,} LoRA params × {ADAM_BYTES[o.optimizer]} B; LoRA params = 2 × {L} layers × {hidden:,} hidden × rank {o.lora_rank}"
        why["gradients"] = f"{trainable:,} LoRA params × 2 B"
    why["overhead"] = "0.5 GB CUDA overhead"

    totals = {
        "weights": weights, "kv_cache": kv, "activations": activations, "gradients": gradients,
        "optimizer_states": optimizer, "adapters": adapters, "overhead": CUDA_OVERHEAD,
    }
    gpus = o.gpus
    # the guide has no parallelism model: split everything evenly over the GPUs that share one copy of
    # the model (tensor x pipeline; data-parallel replicas each hold a whole one), but every GPU's
    # process pays the 0.5 GB
    shards = o.tensor_parallel * o.pipeline_parallel
    per_gpu = {k: int(math.ceil(totals[k] / shards)) for k in COMPONENTS}
    per_gpu["overhead"] = int(CUDA_OVERHEAD)
    if shards > 1:  # the shown formulas are for one GPU, as the numbers beside them
        for k in COMPONENTS:
            if k != "overhead" and k in why:
                formula, _, rest = why[k].partition("; ")
                why[k] = f"({formula}) ÷ {shards} GPUs sharing one copy" + (f"; {rest}" if rest else "")
    return Estimate(
        method="guide",
        parameters=int(params),
        gpus=gpus,
        per_gpu=per_gpu,
        why=why,
        notes=("the guide's formulas: decimal GB, no GQA, ×1.2 on weights, KV cache even in training",),
        kv_bytes_per_token=int(2 * L * hidden * kv_bytes / shards),
        trainable_parameters=int(trainable),
        gpu=setup.gpu.id,
    )
