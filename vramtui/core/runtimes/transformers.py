"""Hugging Face transformers, with PEFT, TRL and bitsandbytes for training.

Inference is ``model.generate()``: the whole prompt in one forward, so one layer's prefill is the
transient peak. Training follows PEFT/TRL's defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import constants as K
from ..formats import WEIGHT_FORMATS, KVFormat, WeightFormat, weight_format
from ..formula import explain, explaining, q, size, tmax
from ..plan import Flag
from .base import ALL_MODES, Finding, Part, Runtime, setting

BNB_FORMATS = ("nf4", "nf4-dq", "int8")  # the bitsandbytes layouts transformers loads

if TYPE_CHECKING:
    from ..layer_split import Placement
    from ..scenario import Scenario
    from ..setup import Setup


class Transformers(Runtime):
    id = "transformers"
    label = "transformers"
    summary = "Hugging Face transformers (+ PEFT, TRL, bitsandbytes for training)"
    modes = ALL_MODES
    measurable = True
    legacy_cache = True  # generate()'s tuple cache before 4.42
    weight_kinds = ("float", "quant", "nominal", "gguf")
    # transformers 5.x cache_implementation="quantized": quanto (2/4 bit), HQQ (1-8 bit) and an fp8 backend
    # (float8_e4m3fn, one scale per tensor; src/transformers/cache_utils.py); ggml's block types are not among them
    kv_formats = ("fp32", "fp16", "bf16", "fp8")
    kv_reason = "q8_0/q4_0 are llama.cpp's block types"
    # the CUDA context torch creates on first use (driver + cuBLAS/cuDNN kernels loaded lazily, CUDA >=
    # 11.7 lazy loading): PyTorch's "CUDA semantics" notes and forum reports put it at 300-600 MiB
    # depending on GPU and driver; 500 MiB is the middle of that range.
    context_mib = 500
    # caching-allocator slack (reserved − allocated) as a share of what is allocated: nvidia-smi reads
    # 6-50 % above max_memory_allocated in training; inference with few, long-lived tensors sits low.
    slack = (0.05, 0.10)

    def refusals(self, s: Scenario, weights: WeightFormat, kv: KVFormat) -> list[Finding]:
        out = super().refusals(s, weights, kv)
        if s.workload.mode == "qlora" and s.optimizations.tensor_parallel > 1:
            # bitsandbytes keeps a 4-bit weight as one flat packed tensor of blocks with its quant_state
            # (bitsandbytes/nn/modules.py, Params4bit), which a tensor-parallel plan cannot slice by rows or
            # columns; multi-GPU QLoRA spreads whole layers (device_map="auto") or shards with FSDP
            # (bitsandbytes docs, "FSDP-QLoRA": bnb_4bit_quant_storage)
            out.append(Finding(("optimizations.tensor_parallel", "workload.mode"),
                               f"{setting('optimizations.tensor_parallel', s.optimizations.tensor_parallel)} is not "
                               f"possible with {setting('workload.mode', 'qlora')}: bitsandbytes 4-bit layers cannot "
                               "be split by tensor parallelism; use pipeline_parallel (device_map) or ZeRO-3/FSDP"))
        if weights.kind == "gguf" and s.is_training and s.workload.mode != "full":
            out.append(Finding(("workload.weights", "workload.mode"),
                               f"{setting('workload.weights', weights.id)} is not possible with "
                               f"{setting('workload.mode', s.workload.mode)}: transformers dequantizes GGUF files on "
                               "load, so the base would be 16-bit; choose bf16 (LoRA) or nf4 (QLoRA)"))
        return out

    def warnings(self, setup: Setup) -> list[str]:
        weights = weight_format(setup.w.weights)
        if weights.kind == "gguf" and not setup.training:
            return [f"transformers dequantizes GGUF {weights.id} weights on load (docs: gguf.md): they take 16 bits "
                    "per weight in GPU memory, not the file's size"]
        return []

    def load_format(self, fmt: WeightFormat) -> WeightFormat:
        # "the GGUF file is dequantized to fp32 ... then cast to torch_dtype" (transformers docs, gguf.md)
        return WEIGHT_FORMATS["bf16"] if fmt.kind == "gguf" else fmt

    def checkpointing_default(self, s: Scenario) -> tuple[bool, str]:
        if s.workload.mode == "qlora":
            # peft/utils/other.py: prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
            return True, "PEFT's prepare_model_for_kbit_training enables it for QLoRA"
        return False, "transformers' Trainer enables it only when asked (gradient_checkpointing=False)"

    def kbit_upcast_default(self, s: Scenario) -> tuple[bool, str]:
        # peft/utils/other.py, prepare_model_for_kbit_training: "cast all non INT8 parameters to fp32",
        # except for GPTQ/AQLM/EETQ/torchao/HQQ models, which it leaves as loaded; TRL's SFTTrainer calls
        # it for a model loaded in 4 or 8 bit (trl/trainer/sft_trainer.py)
        if s.workload.weights in BNB_FORMATS:
            return True, "PEFT's prepare_model_for_kbit_training (which TRL's SFTTrainer calls) casts them to fp32"
        return False, "PEFT's prepare_model_for_kbit_training leaves a GPTQ/AWQ model's tensors as loaded"

    def multi_gpu_field(self, s: Scenario) -> str:
        # inference and QLoRA on several GPUs spread whole layers (from_pretrained(device_map="auto"));
        # bitsandbytes has no TP plan; LoRA and full fine-tuning shard layers with tensor parallelism
        return "pipeline_parallel" if s.workload.mode in ("inference", "qlora") else "tensor_parallel"

    def mla_cache(self, setup: Setup) -> tuple[int, str] | None:
        m = setup.spec
        # transformers' DeepseekV3Attention caches the decompressed K and V of every head
        per = m.num_attention_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)  # type: ignore[operator]
        return per, f"heads·(qk+v head dims) = {per} (transformers stores MLA decompressed)"

    def inference_activations(self, setup: Setup) -> Part:
        m = setup.spec
        h, qd, kv = m.hidden_size, m.q_dim, m.kv_heads * m.head_size
        inter, router = m.mlp_width
        batch, ctx = setup.batch, setup.context
        a = 4 if setup.weight_format.id == "fp32" else 2
        tokens = batch * ctx
        if m.is_moe:
            per_expert = math.ceil(tokens * m.num_experts_per_tok / m.num_experts)
            shared = m.shared_expert_intermediate_size or (m.moe_intermediate_size or 0) * m.num_shared_experts
            mats = 3 if m.mlp_gated else 2
            mlp = (tokens * h * a + per_expert * mats * (m.moe_intermediate_size or 0) * a + tokens * mats * shared * a
                   + tokens * router * 4)
        else:
            mlp = tokens * (3 if m.mlp_gated else 2) * inter * a
        attn = tokens * (2 * qd + 2 * kv) * a
        layer = tokens * 2 * h * a + max(attn, mlp)
        flash = setup.flash_attention
        scores = 0 if flash else batch * m.num_attention_heads * ctx * ctx * K.EAGER_SCORE_BYTES
        logits = batch * m.vocab_size * 4
        prefill = math.ceil((layer + scores) / setup.tp)
        previous = self._previous_cache(setup) if setup.o.legacy_cache else 0
        if not explaining():  # the fit solvers: the bytes alone
            return Part(max(prefill, previous) + logits)
        f = q(tokens, "tokens") * q(2 * h, "hidden in and out") * q(a, "B") + tmax(
            size(attn, "q/k/v"), size(mlp, "MLP intermediates"))
        if not flash:
            f = f + q(batch, "sequences") * q(m.num_attention_heads, "heads") * q(ctx, "tokens") * q(
                ctx, "tokens") * q(K.EAGER_SCORE_BYTES, "B eager scores")
        if setup.tp > 1:
            f = f / q(setup.tp, "TP")
        what = ("one layer's prefill peak: its input and output, the larger of attention's and the MLP's "
                "intermediates" + ("" if flash else ", eager attention's scores"))
        if setup.o.legacy_cache:
            f = tmax(f, size(previous, "previous step's cache"))
            prefill = max(prefill, previous)
            what += ("; transformers < 4.42: the last decode step holds the tuple cache it was given (one token "
                     "shorter) until its forward returns")
        f = f + q(batch, "sequences") * q(m.vocab_size, "vocab") * q(4, "B last-position logits")
        return Part(prefill + logits, explain(f, what))

    @staticmethod
    def _previous_cache(setup: Setup) -> int:
        # transformers 4.35, models/llama/modeling_llama.py (LlamaAttention.forward): each layer returns
        # torch.cat(past, new) as a new tuple; generation/utils.py keeps model_kwargs["past_key_values"] (the
        # old tuple) until _update_model_kwargs_for_generation swaps in the output's, so both caches are alive
        # at the end of every forward. 4.36-4.41 wrap the tuple in a DynamicCache that cats into new tensors
        # while the tuple still holds the old ones; 4.42's generate passes a DynamicCache (no tuple), whose
        # cat frees each layer's old tensor as it goes.
        from ..components import kv_cache

        return kv_cache(setup).bytes * (setup.context - 1) // setup.context

    def launch(self, s: Scenario, numbers: Mapping[str, Any], placement: Placement | None
               ) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
        from . import hf_launch

        return hf_launch.training(s, numbers) if s.is_training else hf_launch.inference(s, numbers)


RUNTIME = Transformers()
