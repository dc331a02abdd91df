"""SGLang (``python -m sglang.launch_server``): a static pool for weights and KV cache, the rest kept free.

``mem_fraction_static`` is "(model weights + KV cache pool) / GPU memory capacity"; when it is not
given SGLang sizes it from the GPU so that the rest holds chunked-prefill activations, CUDA graphs and
the CUDA context. Sources in ``sgl-project/sglang``: ``python/sglang/srt/arg_groups/memory_hook.py``
@ 031ed82d8b5ec8db9cf88cffb057c2e91c964262 (``handle_gpu_memory_settings``) and
``python/sglang/srt/model_executor/pool_configurator.py`` @ 003fca8027387a3d6565b2c08e497e3020ac6211
(the KV pool's size and cell size). The radix cache indexes the same KV pool: no memory of its own.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from ..formula import explain, explaining, mib, q, size, tmax
from ..plan import Flag
from ..units import MiB
from .base import Part, Runtime

if TYPE_CHECKING:
    from ..gpuspec import GPUSpec
    from ..layer_split import Placement
    from ..scenario import Scenario
    from ..setup import Setup

# memory_hook.py: (GPU memory below, MiB) -> (chunked_prefill_size, decode CUDA-graph max_bs at tp < 4, at tp >= 4)
TIERS = (
    (20 * 1024, 2048, 8, 8),  # "T4, 4080"
    (35 * 1024, 4096, 48, 160),  # "A10, 4090, 5090"
    (60 * 1024, 4096, 32, 160),  # "A100 (40GB), L40"
    (160 * 1024, 8192, 256, 512),  # "H100, A100", "H20, H200"
)
TOP_TIER = (16384, 512, 512)  # "B200, MI300"
# reserved_mem = 512 + max(chunked_prefill_size, 2048) * 1.5 + tp*pp/8*1024 + max_bs*2 (MiB), at least
# 10 GiB on GPUs above 60 GiB; mem_fraction_static = round((gpu_mem - reserved) / gpu_mem, 3). The
# piecewise prefill-graph reserve (8 MiB per capture size) is left out: it is off by default.
RESERVE_BASE_MIB = 512
RESERVE_PER_PREFILL_TOKEN_MIB = 1.5
RESERVE_PER_GRAPH_BS_MIB = 2
RESERVE_FLOOR_MIB, RESERVE_FLOOR_ABOVE_MIB = 10 * 1024, 60 * 1024
# the CUDA context and NCCL set up before SGLang measures free memory, ~0.5 GiB like vLLM's
CONTEXT_MIB = 512


def tier(gpu: GPUSpec, tp: int) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) SGLang picks for this GPU."""
    mib = gpu.memory_mib
    for below, chunk, bs_small, bs_large in TIERS:
        if mib < below:
            return chunk, bs_small if tp < 4 else bs_large
    return TOP_TIER[0], TOP_TIER[1] if tp < 4 else TOP_TIER[2]


class SGLang(Runtime):
    id = "sglang"
    label = "SGLang"
    summary = "SGLang server: weights and KV pool in mem_fraction_static of the card, chunked prefill"
    modes_reason = "SGLang is a serving engine; train with transformers (PEFT/TRL) instead"
    weight_kinds = ("float", "quant", "nominal", "gguf")
    # server_args.py --kv-cache-dtype: auto (the model's dtype), fp8_e5m2, fp8_e4m3
    kv_formats = ("fp32", "fp16", "bf16", "fp8")
    kv_reason = "--kv-cache-dtype is auto (the model's dtype) or fp8_e4m3/fp8_e5m2"
    preallocates = True
    context_mib = CONTEXT_MIB
    slack = (0.0, 0.0)

    def memory_share(self, s: Scenario, gpu: GPUSpec) -> tuple[float, str]:
        if s.workload.gpu_memory_utilization is not None:
            return s.workload.gpu_memory_utilization, "mem_fraction_static set in the scenario"
        o = s.optimizations
        chunk, max_bs = tier(gpu, o.tensor_parallel)
        reserved = (RESERVE_BASE_MIB + max(chunk, 2048) * RESERVE_PER_PREFILL_TOKEN_MIB
                    + o.tensor_parallel * o.pipeline_parallel / 8 * 1024 + max_bs * RESERVE_PER_GRAPH_BS_MIB)
        if gpu.memory_mib > RESERVE_FLOOR_ABOVE_MIB:
            reserved = max(reserved, RESERVE_FLOOR_MIB)
        frac = round((gpu.memory_mib - reserved) / gpu.memory_mib, 3)
        return frac, (f"SGLang's default on {gpu.name}: (memory − {reserved:,.0f} MiB reserved for chunked prefill "
                      f"{chunk:,} tokens, CUDA graphs up to batch {max_bs}) / memory")

    def gpu_key(self, gpu: GPUSpec, s: Scenario) -> Hashable:
        # the tier and the default fraction follow the card's memory; the static pool is a share of what
        # the card lets a process use (Apple's working-set limit is below its memory)
        return gpu.memory_mib, gpu.usable_bytes

    def inference_activations(self, setup: Setup) -> Part:
        m = setup.spec
        h, qd, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
        inter, router = m.mlp_width
        chunk, _ = tier(setup.gpu, setup.tp)
        tokens = min(chunk, setup.batch * setup.context)
        width = 2 * h + max(2 * qd + 2 * kv, (3 if m.mlp_gated else 2) * inter) + router * 2
        layer = math.ceil(tokens * 2 * width / setup.tp)
        logits = setup.batch * m.vocab_size * 4  # prefill computes logits of each request's last token
        if not explaining():  # the fit solvers: the bytes alone
            return Part(layer + logits)
        f_layer = q(tokens, "prefill tokens") * q(2, "B") * q(width, "activation width")
        if setup.tp > 1:
            f_layer = f_layer / q(setup.tp, "TP")
        f = f_layer + q(setup.batch, "sequences") * q(m.vocab_size, "vocab") * q(4, "B last-position logits")
        return Part(layer + logits, explain(
            f, f"one layer over a prefill chunk of at most chunked_prefill_size {chunk:,} tokens",
            "activation width = 2·hidden + max(2·q + 2·kv, 3·intermediate) + 2·experts"))

    def _budget(self, setup: Setup) -> int:
        """Bytes of the static pool: mem_fraction_static × the memory free when SGLang starts."""
        frac = self.memory_share(setup.s, setup.gpu)[0]
        return int(frac * (setup.gpu.usable_bytes - (CONTEXT_MIB + setup.nccl_mib) * MiB))

    def overhead(self, setup: Setup, per: Mapping[str, int]) -> Part:
        """The memory outside the static pool, which SGLang leaves for itself; activations come out of it."""
        frac, _ = self.memory_share(setup.s, setup.gpu)
        ctx = (CONTEXT_MIB + setup.nccl_mib) * MiB
        rest = setup.gpu.usable_bytes - ctx - self._budget(setup)
        _, max_bs = tier(setup.gpu, setup.tp)
        graphs = max_bs * RESERVE_PER_GRAPH_BS_MIB * MiB
        kept = max(rest - per["activations"], graphs)
        f = mib(CONTEXT_MIB, "CUDA context")
        if setup.nccl_mib:
            f = f + mib(setup.nccl_mib, "NCCL")
        f = f + tmax(size(rest, "outside the static pool") - size(per["activations"], "activations"),
                     size(graphs, "CUDA graphs"))
        return Part(ctx + kept, explain(
            f, f"SGLang keeps {1 - frac:.1%} of the card outside its static pool for activations and CUDA graphs "
               f"up to batch {max_bs}"))

    def kv_capacity_tokens(self, setup: Setup, per_gpu: Mapping[str, int], kv_per_token: int) -> int | None:
        # pool_configurator.py: rest = free after loading − free before loading × (1 − mem_fraction_static)
        if not kv_per_token:
            return None
        return max(0, (self._budget(setup) - per_gpu["weights"]) // kv_per_token)

    def launch(self, s: Scenario, numbers: Mapping[str, Any], placement: Placement | None
               ) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
        from .vllm import server_model_flags

        w = s.workload
        n, share = numbers["gpus"], numbers["memory_share"]
        model = server_model_flags(s, "--quantization", "--kv-cache-dtype", {"fp8": "fp8_e4m3"})
        flags = [Flag("--model-path", model[0].value, model[0].why), *model[1:],
                 Flag("--tp", str(n), f"the fewest GPUs ({n}) whose shards fit with the KV pool"),
                 Flag("--context-length", str(w.context_length), "the scenario's context"),
                 Flag("--mem-fraction-static", f"{share:g}", "weights + KV pool's share of each card"
                      + (f"; a pool of {numbers['kv_capacity_tokens']:,} tokens" if numbers["kv_capacity_tokens"] else ""))]
        return ("python -m sglang.launch_server " + " ".join(f"{f.flag} {f.value}" for f in flags), tuple(flags), {})


RUNTIME = SGLang()
