"""vLLM (V1 engine, ``vllm serve``): paged KV cache in the share of the card it pre-allocates.

Its start-up profile run decides the activation peak; the batch it profiles depends on the GPU
(``EngineArgs`` defaults in ``vllm/engine/arg_utils.py``), so the estimate takes the GPU as input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .. import constants as K
from ..formats import weight_format
from ..formula import explain, explaining, mib, q, size, tmax
from ..plan import Flag, hf_repo
from ..units import GiB, MiB
from .base import Part, Runtime

if TYPE_CHECKING:
    from ..formats import WeightFormat
    from ..gpuspec import GPUSpec
    from ..layer_split import Placement
    from ..model import ModelSpec
    from ..scenario import Scenario
    from ..setup import Setup

# vllm/engine/arg_utils.py, EngineArgs.get_batch_defaults (vLLM 0.33.0): `vllm serve` defaults to
# max_num_batched_tokens / max_num_seqs of 16384 / 1024 on GPUs of >= 160 GiB, 8192 / 1024 on GPUs of
# >= 70 GiB "and 'a100' not in device_name" (vLLM PR #17885: large batches reduced A100 throughput),
# 2048 / 256 elsewhere. Its profile run samples min(tokens, seqs) rows: profile_run calls
# _dummy_run(self.max_num_tokens), which makes num_reqs = min(num_tokens, max_num_seqs) requests, and
# _dummy_sampler_run samples one row per request (vllm/v1/worker/gpu_model_runner.py, 0.21.0 and 0.33.0).
# A launch that asks for more sequences than the default raises max_num_seqs (served_limits): the
# profile's sampler rows and the CUDA-graph sizes follow the raised value.
SERVE_TIERS = ((160 * GiB, False, 16384, 1024), (70 * GiB, True, 8192, 1024))  # (memory from, not A100, tokens, seqs)
SERVE_SMALL = (2048, 256)
# vllm/config/cache.py (0.33.0): block_size defaults to 16 tokens; gpu_memory_utilization to 0.92
# ("Field(default=0.92, gt=0, le=1)"; releases before it used 0.9)
BLOCK_TOKENS = 16
GPU_MEMORY_UTILIZATION = 0.92

# CUDA graphs (vLLM 0.33.0). The default capture sizes (vllm/config/vllm.py,
# VllmConfig._set_cudagraph_sizes): [1, 2, 4] + range(8, 256, 8) + range(256, cap + 1, 16) with
# cap = min(max_num_seqs * 2, 512; 1024 on compute-capability-10 cards such as the B200; 0.21.0's
# vllm/config/vllm.py: "max_graph_size = min(max_num_seqs * 2, 512)"), with the max_num_seqs the launch
# sets (a raised --max-num-seqs moves the cap up to 512 and adds FULL graphs up to it),
# max_num_batched_tokens added when it is below cap. cudagraph_mode FULL_AND_PIECEWISE captures one
# PIECEWISE graph per size and one FULL decode graph per size <= max_num_seqs
# (vllm/v1/cudagraph_dispatcher.py, initialize_cudagraph_keys).
GRAPH_CAP, GRAPH_CAP_CC10 = 512, 1024
# Where the graphs sit: from vLLM 0.20.0 (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS defaults to 1 in
# vllm/envs.py; the log says "default since v0.21.0") the start-up profile captures the two largest
# graphs of each mode and takes first capture + per graph × (count - 1) out of the KV budget
# (gpu_model_runner.py profile_cudagraph_memory, gpu_worker.py determine_available_memory); before it
# the graphs were captured after the KV cache, outside the budget. The estimate follows 0.33.
# Size: the estimator charges each graph after the first at least 1 MiB ("Use at least 1 MiB per graph",
# GRAPH_PER_MIB, vLLM's floor, not a fit); the first capture is what is left of the 768 MiB that public
# start-up logs showed for the default 51 + 35 graphs (docs/method.md; published totals 0.15-1.6 GiB
# do not follow the count, so no per-graph figure was fitted to them).
GRAPH_PER_MIB = 1
GRAPH_FIRST_MIB = 768 - (51 - 1 + 35 - 1) * GRAPH_PER_MIB
CONTEXT_MIB = 512  # CUDA context and the memory vLLM's profile counts as non-torch

# The KV budget, as vLLM's worker computes it (vllm/v1/worker/gpu_worker.py, determine_available_memory,
# and vllm/v1/worker/utils.py request_memory, 0.33.0): requested = ceil(gpu_memory_utilization x
# init_snapshot.total_memory), the total that torch.cuda.mem_get_info() reports (vllm/utils/mem_utils.py
# MemorySnapshot.measure), which is below nvidia-smi's total by what the driver keeps; less the weights,
# the profile's torch peak and the non-torch memory that *grew* after the snapshot (memory_profiling:
# non_torch_increase = after_profile - before_create); less the CUDA-graph estimate from 0.20.0 (envs.py
# VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS, default "0" through 0.19.1, "1" from 0.20.0). The snapshot is
# taken after the CUDA context exists and, from 0.11.0, after the NCCL communicators ("Initialize the
# distributed environment BEFORE taking memory snapshot", gpu_worker.py init_device 0.11.0-0.33.0): neither
# is charged to the budget. Before 0.11 NCCL came after the snapshot and was charged.
# torch's total_memory by card (MiB), as public logs print it; a card not listed keeps nvidia-smi's total.
CUDA_TOTAL_MIB = {
    # "_CudaDeviceProperties(name='NVIDIA H100 80GB HBM3', ..., total_memory=81089MB" (torch 2.7, CUDA 12.8);
    # llm-d-planner's v0.19.0 accuracy report: "physical 79.19 GiB"
    "h100-80gb": 81089,
    # "_CudaDeviceProperties(name='NVIDIA H200', ..., total_memory=143156MB"
    "h200": 143156,
    # vLLM: "Free memory on device (46.41/79.25 GiB) on startup is less than desired GPU memory
    # utilization (0.9, 71.33 GiB)" (A100-SXM4-80GB; the same 79.25 in many such lines)
    "a100-80gb": 81152,
    # vLLM: "Free memory on device cuda:0 (3.71/39.39 GiB) on startup ..." (A100-SXM4-40GB)
    "a100-40gb": 40335,
    # vLLM CI (buildkite, L4): "Free memory on device cuda:0 (1.53/22.05 GiB) on startup ..."
    "l4": 22579,
    # "_CudaDeviceProperties(name='NVIDIA RTX PRO 6000 Blackwell Server Edition', ..., total_memory=97250MB";
    # the preset is the Workstation Edition, whose nvidia-smi total (97887 MiB) the Server Edition shares
    "rtx-pro-6000-blackwell": 97250,
    # "_CudaDeviceProperties(name='NVIDIA RTX A5000', major=8, minor=6, total_memory=24138MB"
    "rtx-a5000": 24138,
}
# The non-torch memory that grows after the snapshot (kernel modules loaded by the profile run, attention
# back-end buffers): llm-d-planner's v0.19.0 report measures 0.25 / 0.24 GiB ("actual non-torch GiB") for
# Llama-3.1-8B / Qwen2.5-7B on one H100, the points of the vllm-sampler-bytes term.
NON_TORCH_MIB = 256
# The vLLM the estimate follows; a validation point may name the release its log came from.
VERSION = (0, 33, 0)


def version_tuple(version: str) -> tuple[int, ...]:
    """'0.10.1.1' -> (0, 10, 1, 1); '0.26.1rc1.dev156' -> (0, 26, 1)."""
    parts: list[int] = []
    for piece in version.lstrip("v").split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    return tuple(parts)


# MXFP4 MoE experts (gpt-oss) are allocated padded to the chosen kernel's tile before the checkpoint is
# copied in: create_weights sizes w13/w2 (and their scales and biases) from the rounded hidden size and
# per-rank intermediate size, and the kernel-format conversion replaces those tensors (replace_parameter),
# so the padded copy is what stays loaded. The rounding per back-end is
# mxfp4_round_up_hidden_size_and_intermediate_size (vllm/model_executor/layers/fused_moe/oracle/mxfp4.py
# @ 0.19.1-0.33.0; inline in Mxfp4MoEMethod.create_weights, vllm/model_executor/layers/quantization/mxfp4.py
# @ 0.11.0): Marlin rounds hidden to 256 and intermediate to 128, FlashInfer TRT-LLM (SM100) 256 / 128
# (256 / 256 @ 0.11.0), ROCm 256 / 256, OpenAI's Triton kernels intermediate to 64 only. The back-end:
# _get_priority_backends_for_gpt_oss (0.33.0) puts FlashInfer TRT-LLM (SM100) first, then Triton (its
# _triton_kernel_moe_supports_current_device: SM90 to SM12x, but SM12x moved after Marlin), then Marlin,
# the only one left for SM80/SM89; before 0.11 (torch 2.7, get_mxfp4_backend @ 0.11.0 needs torch >= 2.8
# for Triton) Hopper ran Marlin too, as the August 2025 H100 log says.
def mxfp4_moe_backend(gpu: GPUSpec, version: tuple[int, ...] = VERSION) -> tuple[str, int, int]:
    """(back-end, hidden-size alignment, per-rank intermediate alignment) of vLLM ``version``'s MXFP4 MoE."""
    if gpu.vendor == "amd":
        return "ROCm AITER / Triton", 256, 256
    name = gpu.name.upper()
    if "B200" in name or "B300" in name or "GB200" in name:
        return ("FlashInfer TRT-LLM", 256, 256) if version < (0, 19) else ("FlashInfer TRT-LLM", 256, 128)
    hopper = any(k in name for k in ("H100", "H200", "GH200", "H800", "H20"))
    if hopper and version >= (0, 11):
        return "Triton", 1, 64
    return "Marlin", 256, 128


def mxfp4_padding_backend(m: ModelSpec, fmt: WeightFormat, gpu: GPUSpec, version: tuple[int, ...] = VERSION
                          ) -> tuple[str, int, int] | None:
    """mxfp4_moe_backend where an experts-only format's MoE experts go through it; None where nothing pads."""
    if not (fmt.experts_only and m.is_moe and m.moe_intermediate_size) or gpu.vendor not in ("nvidia", "amd"):
        return None
    return mxfp4_moe_backend(gpu, version)


def mxfp4_padding_bytes(setup: Setup, fmt: WeightFormat, version: tuple[int, ...] = VERSION) -> tuple[int, str]:
    """Bytes the MXFP4 MoE back-end's padding adds to the experts, over all TP ranks (see mxfp4_moe_backend)."""
    m = setup.spec
    chosen = mxfp4_padding_backend(m, fmt, setup.gpu, version)
    if chosen is None or not m.moe_intermediate_size:  # a chosen back-end implies the size (said for mypy)
        return 0, ""
    backend, h_align, i_align = chosen
    h, inter = m.hidden_size, m.moe_intermediate_size // setup.tp
    h_pad, i_pad = math.ceil(h / h_align) * h_align, math.ceil(inter / i_align) * i_align
    if (h_pad, i_pad) == (h, inter):
        return 0, ""
    mats = 3 if m.mlp_gated else 2
    per_rank = m.moe_layers * m.num_experts * mats * (h_pad * i_pad - h * inter)
    bias = m.moe_layers * m.num_experts * ((2 if m.mlp_gated else 1) * (i_pad - inter) + h_pad - h) \
        if m.expert_bias else 0
    pad = int(per_rank * fmt.linear_bits / 8) + 2 * bias  # the biases stay bf16
    return pad * setup.tp, (f"vLLM's {backend} MXFP4 MoE back-end pads the experts to hidden {h_pad:,} x "
                            f"intermediate {i_pad:,} per rank (from {h:,} x {inter:,})")


# Below nvidia-smi's total (the GPU presets' memory_mib) by 426-768 MiB on the cards above: RTX A5000 426,
# L4 455, H100 470, H200 615, A100-40GB 625, RTX PRO 6000 637, A100-80GB 768. A card no log covers is
# taken to be short by the smallest of these (the A5000's, the 24 GB GA102 that the RTX 3090 also uses):
# leaving the full nvidia-smi total would hand vLLM's budget memory the driver keeps.
DRIVER_RESERVED_MIB = 426


# The vision encoder in the profile run of a multimodal model (Qwen2-VL-style tower), two derived ranges:
# before 0.11 (vLLM 0.10.0 source, the release nearest the 0.9.0.1 logs this was checked on) and 0.16 on
# (0.16.0-0.33.0 sources); 0.11-0.15 are left out (no encoder term), see VISION_UNTRACED.
# What all of them share:
# - vllm/v1/worker/gpu_model_runner.py profile_run: it runs the encoder (get_multimodal_embeddings, from
#   0.13 embed_multimodal) on max_num_mm_items dummy items of the modality with the most tokens, keeps the
#   outputs in self.encoder_cache (0.10-0.11 "tmp", 0.13 on "tmp_{i}") and the dummy inputs in
#   batched_dummy_mm_inputs through _dummy_run and the sampler, and only then clears them; items =
#   max(1, min(encoder budget // tokens per item, max_num_reqs x items per prompt)), the budget
#   max(max_num_batched_tokens, tokens per item) (vllm/v1/core/encoder_cache_manager.py,
#   compute_encoder_budget, 0.33.0 compute_mm_encoder_budget with SchedulerConfig's
#   max_num_encoder_input_tokens = encoder_cache_size = max_num_batched_tokens; 0.33.0's items come from
#   vllm/multimodal/encoder_budget.py MultiModalBudget._get_max_items, the same formula; the log: "Encoder
#   cache will be initialized with a budget of 16384 tokens, and profiled with 1 image items of the
#   maximum feature size").
# - the largest image (vllm/model_executor/models/qwen2_vl.py, get_image_size_with_most_features /
#   _get_vision_info): smart_resize of a 9999999-pixel square to max_pixels, a side of
#   floor(sqrt(max_pixels) / (patch x merge)) x patch x merge; grid_t 1; tokens = patches / merge².
# - the encoder cache: items x tokens x out_hidden in bf16, alive with the pixels during the text run.
# - Flash attention (get_vit_attn_backend on >= SM80) keeps no score matrix.
# Before 0.11 (qwen2_5_vl.py 0.10.0 Qwen2_5_VisionBlock / Attention / MLP), per patch in bf16 units of the
# vision hidden size d, TP t:
# - pixel_values: the HF image processor's float32 rows of 3 x temporal x patch² values per patch, moved to
#   the GPU unchanged (vllm/multimodal/inputs.py MultiModalKwargs.as_kwargs) and alive for the whole run.
# - the residual x and the RMSNorm output n (2d) stay alive through each half.
#   Attention: qkv 3d/t; at TP > 1 split_qkv's all_gather_interleave holds the gathered 3d and its cat 3d;
#   q, k, v made contiguous 3d/t, and apply_rotary_pos_emb_vision makes an fp32 copy (2d/t), an fp32 output
#   (2d/t) and its bf16 cast (d/t) of q, then of k: max(2d + 3d/t + 6d [t > 1], 2d + 11d/t).
#   MLP (separate gate_proj / up_proj): gate (after SiLU), up and their product 3I/t, and down_proj's full
#   output d: 3d + 3I/t.
# 0.16 on (qwen2_5_vl.py: the Qwen2_5_VisionMLP / Attention / Block classes differ between 0.16.0, 0.17.0,
# 0.18.0, 0.19.1, 0.21.0, 0.26.0, 0.28.0 and 0.33.0 only in the FlashInfer sequence_lengths argument and the
# torch.compile switch's name, both outside the flash-attention eager path; 0.13.0 and 0.14.0 lack the
# qk_reshaped.contiguous() of 0.16):
# - the block: x and norm1's output (2d) stay alive through the attention. Attention: qkv (QKVParallelLinear)
#   3d/t, no all-gather; q and k as one einops view, qk_reshaped.contiguous() 2d/t; ApplyRotaryEmb
#   (layers/rotary_embedding/common.py forward_cuda: vllm_flash_attn apply_rotary_emb, not in place) 2d/t
#   in bf16; MMEncoderAttention -> vit_flash_attn_wrapper (v1/attention/ops/vit_attn_wrappers.py: views, the
#   out= buffer empty_like(q)) d/t; the rearrange back is a view (batch 1); proj's full output d while all
#   the locals live: 3d + 8d/t. MLP: norm2(x, residual=x_attn) is RMSNorm's fused_add_rms_norm (in place:
#   ir.ops.fused_add_rms_norm.maybe_inplace, layers/layernorm.py), so x and the residual (2d); gate_up
#   (MergedColumnParallelLinear) 2I/t, SiluAndMul I/t, down_proj's full output d: 3d + 3I/t; the residual
#   add's new d comes after gate_up and the product are freed (4d).
# - pixel_values: float32 through 0.28.0 (qwen2_5_vl.py's forward casts a transient copy); 0.33.0 adds
#   mm_device_do_normalize (vllm/config/multimodal.py default True, Qwen2_5_VLForConditionalGeneration
#   supports_mm_device_do_normalize = True): the processor runs with do_rescale/do_normalize False, raw
#   uint8 values travel to the GPU (layers/fusion/mm_input_norm.py FusedMMInputNorm.input_dtype) and the
#   bf16 normalised copy lives only until patch_embed. 0.29-0.32 were not unpacked, so the switch is put at
#   0.33, the first release seen with it. The encoder's CUDA graphs (cudagraph_mm_encoder) and its
#   torch.compile (compile_mm_encoder) are off by default (vllm/config/compilation.py, 0.33.0), so the
#   profile runs the eager blocks traced above.
# The profile's torch peak is then max(pixels + the block's peak, text peak + pixels + encoder outputs).
VISION_RULE_BEFORE = (0, 11)
# 0.11.0 merged the MLP's gate/up but kept the all-gather attention and apply_rotary_pos_emb_vision, and
# expanded each dummy output to the encoder budget (gpu_model_runner.py, output.new_zeros((encoder_budget,
# ...)), only in 0.11.0 of the sources here); 0.13.0/0.14.0 rotate q and k from a non-contiguous view (no
# qk_reshaped.contiguous()). Those blocks' helper layers (rotary, the ViT attention wrapper, the norm) were
# not traced for 0.11-0.15, so those releases keep the text-only profile.
VISION_UNTRACED = ((0, 11), (0, 16))
VISION_UINT8_PIXELS_FROM = (0, 33)  # mm_device_do_normalize, first seen in the 0.33.0 source


def vision_terms(setup: Setup, tokens: int, seqs: int, version: tuple[int, ...] = VERSION
                 ) -> tuple[int, int, int, float] | None:
    """(patches through the ViT, pixel bytes, encoder-output bytes, the block's peak per patch in bf16
    units) of vLLM ``version``'s profile run per GPU, or None where the model describes no vision tower or
    the release is not modelled (see above)."""
    m = setup.spec
    if VISION_UNTRACED[0] <= version < VISION_UNTRACED[1] or not (
            m.vision_hidden_size and m.vision_intermediate_size and m.vision_patch_size and m.vision_max_pixels):
        return None
    d, inter, t = m.vision_hidden_size, m.vision_intermediate_size, setup.tp
    patch, merge = m.vision_patch_size, m.vision_spatial_merge_size
    factor = patch * merge
    side = math.floor(math.sqrt(m.vision_max_pixels) / factor) * factor // patch  # patches per side
    patches = side * side
    item_tokens = patches // (merge * merge)
    items = max(1, min(max(tokens, item_tokens) // item_tokens, seqs))
    n = items * patches
    pixel_bytes = 1 if version >= VISION_UINT8_PIXELS_FROM else 4
    pixels = n * 3 * m.vision_temporal_patch_size * patch * patch * pixel_bytes
    if version < VISION_RULE_BEFORE:
        attn = 2 * d + 11 * d / t
        if t > 1:
            attn = max(attn, 2 * d + 3 * d / t + 6 * d)
    else:
        attn = 3 * d + 8 * d / t
    mlp = 3 * d + 3 * inter / t
    outputs = items * item_tokens * (m.vision_out_hidden_size or m.hidden_size) * 2
    return n, pixels, outputs, max(attn, mlp)


def vision_profile_bytes(setup: Setup, tokens: int, seqs: int, version: tuple[int, ...] = VERSION
                         ) -> tuple[int, int]:
    """(the encoder pass's peak, what stays through the text run) per GPU, in bytes, for vLLM ``version``;
    (0, 0) where the model describes no vision tower or the release is not modelled (see above)."""
    terms = vision_terms(setup, tokens, seqs, version)
    if terms is None:
        return 0, 0
    n, pixels, outputs, per_patch = terms
    return pixels + int(n * 2 * per_patch), pixels + outputs


def cuda_total_bytes(gpu: GPUSpec) -> int:
    """What torch.cuda.mem_get_info() reports as the card's total: a log's figure, else nvidia-smi's total
    less the smallest gap the logs show (NVIDIA; other vendors keep the preset's total)."""
    mib_ = CUDA_TOTAL_MIB.get(gpu.id)
    if mib_ is not None:
        return mib_ * MiB
    return gpu.usable_bytes - (DRIVER_RESERVED_MIB * MiB if gpu.vendor == "nvidia" else 0)


def capture_sizes(max_num_seqs: int, max_num_batched_tokens: int, cap: int = GRAPH_CAP) -> list[int]:
    """vLLM's default CUDA-graph capture sizes (tokens per batch), ascending."""
    top = min(max_num_seqs * 2, cap, max_num_batched_tokens)
    sizes = [i for i in (1, 2, 4) if i <= top]
    if top >= 8:
        sizes += list(range(8, min(top + 1, 256), 8))
    if top >= 256:
        sizes += list(range(256, top + 1, 16))
    if max_num_batched_tokens <= top:
        sizes.append(max_num_batched_tokens)
    if max_num_seqs <= top:  # uniform decode sizes: [max_num_seqs] at one token per request
        sizes.append(max_num_seqs)
    return sorted(set(sizes))


def graph_counts(max_num_seqs: int, max_num_batched_tokens: int, cap: int = GRAPH_CAP) -> tuple[int, int]:
    """(PIECEWISE, FULL) graphs that FULL_AND_PIECEWISE captures with the default sizes."""
    sizes = capture_sizes(max_num_seqs, max_num_batched_tokens, cap)
    return len(sizes), sum(1 for s in sizes if s <= max_num_seqs)


def graph_mib(pieces: int, full: int) -> int:
    """The graphs' memory vLLM's profile takes out of the KV budget, in MiB."""
    return GRAPH_FIRST_MIB + GRAPH_PER_MIB * (max(pieces - 1, 0) + max(full - 1, 0))


def _tier_limits(tier: int | None) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) of a batch-default tier (None: the small cards')."""
    return SERVE_SMALL if tier is None else (SERVE_TIERS[tier][2], SERVE_TIERS[tier][3])


def served_limits(tier: int | None, batch: int) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) that the plan's `vllm serve` line runs with for ``batch``
    sequences: the tier's defaults, max_num_seqs raised to the batch where the batch exceeds it (the
    launch adds ``--max-num-seqs``), and max_num_batched_tokens to max_num_seqs where that passes it
    (``--max-num-batched-tokens``): vLLM refuses to start with fewer ("max_num_batched_tokens (...)
    must be greater than or equal to max_num_seqs", SchedulerConfig in vllm/config/scheduler.py, 0.21.0
    and 0.33.0; EngineArgs keeps the tokens' default when only max_num_seqs is given). The one rule the
    launch command and the estimate both follow."""
    tokens, seqs = _tier_limits(tier)
    seqs = max(seqs, batch)
    return max(tokens, seqs), seqs


@lru_cache(maxsize=256)  # one per (limits, capture cap): every estimate of a fit grid asks; the batch
def _graphs(tokens: int, seqs: int, cap: int) -> tuple[int, int, int]:  # solver varies seqs above the default
    pieces, full = graph_counts(seqs, tokens, cap)
    return pieces, full, graph_mib(pieces, full)


@lru_cache(maxsize=1024)  # per card: the fit solvers ask on every estimate (a synthetic grid has hundreds)
def _card(memory_bytes: int, name: str, vendor: str) -> tuple[int | None, int]:
    """(batch-default tier, CUDA-graph capture cap) of a card; the tier None: the small cards'."""
    # current_platform.is_device_capability_family(100): B200 / GB200 / B300 (not the RTX 50 or
    # RTX PRO cards, capability 12)
    cap = GRAPH_CAP_CC10 if vendor == "nvidia" and any(b in name.upper() for b in ("B200", "B300")) else GRAPH_CAP
    for i, (memory, not_a100, _, _) in enumerate(SERVE_TIERS):
        if memory_bytes >= memory and not (not_a100 and "a100" in name.lower()):
            return i, cap
    return None, cap


class VLLM(Runtime):
    id = "vllm"
    label = "vLLM"
    summary = "vLLM server (V1 engine): paged KV cache in a pre-allocated share of the card"
    modes_reason = "vLLM is an inference and serving engine; train with transformers (PEFT/TRL) instead"
    weight_kinds = ("float", "quant", "nominal", "gguf")
    # vllm/config/cache.py CacheDType: "auto" (the model's dtype), "fp8", "fp8_e4m3", "fp8_e5m2"
    kv_formats = ("fp32", "fp16", "bf16", "fp8")
    kv_reason = "--kv-cache-dtype is auto (the model's dtype) or fp8; q8_0/q4_0 are llama.cpp's"
    preallocates = True
    # the CUDA context; overhead() adds the CUDA graphs, counted by capture size (graph_mib)
    context_mib = CONTEXT_MIB
    slack = (0.0, 0.0)  # vLLM allocates its KV cache and buffers once
    # the profile run's batch is the engine's (served_limits): the card's defaults, which the workload
    # changes only where its batch exceeds the default max_num_seqs (fixed_batch)
    activations_follow_workload = False

    def warnings(self, setup: Setup) -> list[str]:
        if weight_format(setup.w.weights).kind == "gguf":
            return ["vLLM's GGUF support is experimental and single-file only (vLLM docs: features/quantization/gguf)"]
        return []

    def memory_share(self, s: Scenario, gpu: GPUSpec) -> tuple[float, str]:
        if s.workload.gpu_memory_utilization is not None:
            return s.workload.gpu_memory_utilization, "set in the scenario"
        return GPU_MEMORY_UTILIZATION, "vLLM's default gpu_memory_utilization"

    def batch_defaults(self, gpu: GPUSpec) -> tuple[int, int, str]:
        tier = self._tier(gpu)
        tokens, seqs = _tier_limits(tier)
        if tier is None:
            rule = "< 70 GiB or an A100"
        else:
            memory, not_a100, _, _ = SERVE_TIERS[tier]
            rule = f"≥ {memory // GiB} GiB" + (", not an A100" if not_a100 else "")
        why = f"`vllm serve` defaults on {gpu.name} ({rule}): max_num_batched_tokens {tokens:,}, max_num_seqs {seqs:,}"
        return tokens, seqs, why

    def served_limits(self, gpu: GPUSpec, batch: int) -> tuple[int, int]:
        """(max_num_batched_tokens, max_num_seqs) of the plan's launch for ``batch`` sequences on ``gpu``."""
        return served_limits(self._tier(gpu), batch)

    def fixed_batch(self, gpu: GPUSpec) -> int | None:
        # up to the default max_num_seqs the launch keeps the defaults; above it max_num_seqs is the batch
        return _tier_limits(self._tier(gpu))[1]

    @staticmethod
    def _tier(gpu: GPUSpec) -> int | None:
        return _card(gpu.memory_bytes, gpu.name, gpu.vendor)[0]

    def gpu_key(self, gpu: GPUSpec, s: Scenario) -> Hashable:
        card = _card(gpu.memory_bytes, gpu.name, gpu.vendor)
        # the MoE back-end that pads an experts-only format's experts follows the card's vendor and name
        # (mxfp4_padding_bytes): cards of one tier with another back-end need another estimate
        chosen = mxfp4_padding_backend(s.model.spec, weight_format(s.workload.weights), gpu)
        return card if chosen is None else (*card, chosen[0])

    def cuda_graphs(self, setup: Setup) -> tuple[int, int, int]:
        """(PIECEWISE graphs, FULL graphs, MiB) with the default capture sizes at the launch's limits."""
        gpu = setup.gpu
        tier, cap = _card(gpu.memory_bytes, gpu.name, gpu.vendor)
        tokens, seqs = served_limits(tier, setup.batch)
        return _graphs(tokens, seqs, cap)

    def overhead(self, setup: Setup, per: Mapping[str, int]) -> Part:
        base, f = self.base_overhead(setup, per)  # CUDA context and NCCL (vLLM has no allocator slack)
        pieces, full, graphs = self.cuda_graphs(setup)
        if not explaining():  # the fit solvers: the bytes alone
            return Part(base + graphs * MiB)
        f = f + mib(GRAPH_FIRST_MIB, "first graph") + q(pieces - 1 + full - 1, "more graphs") * mib(
            GRAPH_PER_MIB, "each")
        seqs = self.served_limits(setup.gpu, setup.batch)[1]
        return Part(base + graphs * MiB, explain(
            f, f"CUDA graphs: {pieces} PIECEWISE + {full} FULL with vLLM's default capture sizes at max_num_seqs "
               f"{seqs:,}, inside the KV budget as vLLM ≥ 0.20 profiles them (before 0.20 they were captured "
               "after the KV cache)"))

    def fixed_overhead(self, setup: Setup) -> Part:
        # no allocator slack (slack 0): base_overhead adds no share of the other components, so it is
        # given none; the CUDA graphs read the batch only above the default max_num_seqs (fixed_batch)
        return self.overhead(setup, {})

    def weight_padding_bytes(self, setup: Setup, fmt: WeightFormat) -> tuple[int, str]:
        return mxfp4_padding_bytes(setup, fmt)

    def weights_at(self, setup: Setup, weights: int, version: tuple[int, ...]) -> int:
        """The per-GPU weights vLLM ``version`` loads, from the estimate's (which follows VERSION)."""
        fmt = setup.weight_format
        delta = mxfp4_padding_bytes(setup, fmt, version)[0] - mxfp4_padding_bytes(setup, fmt)[0]
        return weights + delta // setup.tp

    def kv_block_tokens(self, setup: Setup) -> int:
        return BLOCK_TOKENS

    @staticmethod
    def _width(setup: Setup) -> int:
        """Activation width of one layer in the profile run (see inference_activations)."""
        m = setup.spec
        inter, router = m.mlp_width
        return (2 * m.hidden_size + max(2 * m.q_dim + 2 * m.kv_heads * m.head_size, (3 if m.mlp_gated else 2) * inter)
                + router * 2)

    def _text_peak(self, setup: Setup, tokens: int, seqs: int) -> int:
        """The text profile's peak (see inference_activations), without the vision encoder."""
        sampler = int(min(tokens, seqs) * setup.spec.vocab_size * K.VLLM_SAMPLER_BYTES_PER_LOGIT)
        return max(math.ceil(tokens * 2 * self._width(setup) / setup.tp), sampler)

    def inference_activations(self, setup: Setup) -> Part:
        tokens, seqs = self.served_limits(setup.gpu, setup.batch)
        text = self._text_peak(setup, tokens, seqs)
        encoder, kept = vision_profile_bytes(setup, tokens, seqs)
        peak = max(encoder, text + kept) if encoder else text
        if not explaining():  # the fit solvers: the bytes alone
            return Part(peak)
        m = setup.spec
        f_layer = q(tokens, "batched tokens") * q(2, "B") * q(self._width(setup), "activation width")
        if setup.tp > 1:
            f_layer = f_layer / q(setup.tp, "TP")
        f_sampler = q(min(tokens, seqs), "sequences") * q(m.vocab_size, "vocab") * q(
            K.VLLM_SAMPLER_BYTES_PER_LOGIT, "B per logit")
        why = explain(tmax(f_layer, f_sampler),
                      "the profile run's larger peak: one layer at the batch's tokens, or the sampler over "
                      "every sequence (not split by TP)",
                      "activation width = 2·hidden + max(2·q + 2·kv, 3·intermediate) + 2·experts",
                      self._limits_why(setup.gpu, tokens, seqs))
        if encoder:
            why = self._vision_why(setup, tokens, seqs, text) + "; text peak = " + why
        return Part(peak, why)

    @staticmethod
    def _vision_why(setup: Setup, tokens: int, seqs: int, text: int) -> str:
        """The profile peak of a vision-language model: the encoder pass over the dummy images, or the text
        run with the pixels and the encoder outputs still held (vision_profile_bytes)."""
        m = setup.spec
        terms = vision_terms(setup, tokens, seqs)
        assert terms is not None
        n, pixels, outputs, per_patch = terms
        values = 3 * m.vision_temporal_patch_size * (m.vision_patch_size or 0) ** 2
        f_pixels = q(n, "dummy-image patches") * q(values, "pixel values per patch") * q(
            pixels // (n * values), "B per pixel value")
        f_block = q(n, "dummy-image patches") * q(2, "B") * q(per_patch, "ViT block peak width")
        f_out = q(outputs // 2, "encoder output values") * q(2, "B")
        return explain(tmax(f_pixels + f_block, size(text, "text peak") + f_pixels + f_out),
                       "vLLM's profile run first encodes the maximum-size dummy image(s) and keeps the pixels "
                       "and the encoder outputs through the text run: the larger of the ViT's peak and the "
                       "text peak plus those",
                       f"ViT block peak width = max(3·d + 8·d/TP, 3·d + 3·I/TP) with vision hidden d = "
                       f"{m.vision_hidden_size:,}, intermediate I = {m.vision_intermediate_size:,} (vLLM "
                       f"{'.'.join(map(str, VERSION))} qwen2_5_vl.py vision block); uint8 pixels "
                       "(mm_device_do_normalize)")

    def _limits_why(self, gpu: GPUSpec, tokens: int, seqs: int) -> str:
        default_tokens, default_seqs, why = self.batch_defaults(gpu)
        if (tokens, seqs) == (default_tokens, default_seqs):
            return why
        raised = "; --max-num-batched-tokens: max_num_seqs, as vLLM requires" if tokens != default_tokens else ""
        return (f"`vllm serve` on {gpu.name} as the plan launches it: max_num_batched_tokens {tokens:,}, "
                f"max_num_seqs {seqs:,} (--max-num-seqs: the batch, above the default {default_seqs:,}{raised})")

    def usable_bytes(self, s: Scenario, gpu: GPUSpec) -> int:
        # vLLM's requested memory: the share of torch's total (CUDA_TOTAL_MIB), not of nvidia-smi's
        return int(cuda_total_bytes(gpu) * self.memory_share(s, gpu)[0])

    def kv_capacity_tokens(self, setup: Setup, per_gpu: Mapping[str, int], kv_per_token: int) -> int | None:
        if setup.training or not kv_per_token:
            return None
        return self.logged_kv_tokens(setup, per_gpu, kv_per_token, VERSION)

    def kv_capacity_rule(self, setup: Setup, per_gpu: Mapping[str, int], kv_per_token: int
                         ) -> Callable[[GPUSpec, int], int | None]:
        # the pool is the card's requested share less what the profile charges, and at VERSION that reads
        # the card only through its GPU key (tier and capture cap): charged once per key
        if setup.training or not kv_per_token:
            return lambda gpu, usable: None
        charged, batched = self._charged(setup, per_gpu, VERSION)
        return lambda gpu, usable: kv_tokens_line(setup, usable - charged, kv_per_token, VERSION, batched)

    def kv_pool_bytes(self, setup: Setup, per_gpu: Mapping[str, int], version: tuple[int, ...] = VERSION) -> int:
        """The KV budget vLLM ``version`` computes (see CUDA_TOTAL_MIB): its requested share of torch's
        total, less what its profile charges."""
        return self._pool_and_batched(setup, per_gpu, version)[0]

    def _pool_and_batched(self, setup: Setup, per_gpu: Mapping[str, int], version: tuple[int, ...]
                          ) -> tuple[int, int]:
        """(KV pool bytes, max_num_batched_tokens)."""
        charged, tokens = self._charged(setup, per_gpu, version)
        return self.usable_bytes(setup.s, setup.gpu) - charged, tokens

    def _charged(self, setup: Setup, per_gpu: Mapping[str, int], version: tuple[int, ...]) -> tuple[int, int]:
        """(what vLLM ``version``'s profile takes out of the requested share before the KV pool,
        max_num_batched_tokens): one look-up of the card's limits for both."""
        gpu = setup.gpu
        tier, cap = _card(gpu.memory_bytes, gpu.name, gpu.vendor)
        tokens, seqs = served_limits(tier, setup.batch)
        graphs = _graphs(tokens, seqs, cap)[2] * MiB
        overhead = per_gpu["overhead"]
        charged = sum(per_gpu.values()) - per_gpu["kv_cache"] - overhead  # weights, the profile's peak
        charged += self.weights_at(setup, per_gpu["weights"], version) - per_gpu["weights"]
        if version < (0, 6):  # 0.2-0.5 (vllm/worker/worker.py): the process's whole use, total - free
            charged += overhead - graphs
        else:
            charged += NON_TORCH_MIB * MiB
            if version < (0, 11):  # NCCL initialised after the snapshot
                charged += setup.nccl_mib * MiB
        if version >= (0, 20):
            charged += graphs
        if setup.spec.vision_hidden_size:  # the estimate's activations hold VERSION's encoder term
            text = self._text_peak(setup, tokens, seqs)
            encoder, kept = vision_profile_bytes(setup, tokens, seqs, version)
            # the encoder pass sets the profile's peak, or its leftovers add to the text run's
            charged += (max(encoder, text + kept) if encoder else text) - per_gpu["activations"]
        return charged, tokens

    def logged_kv_tokens(self, setup: Setup, per_gpu: Mapping[str, int], kv_per_token: int,
                         version: tuple[int, ...]) -> int:
        """The "GPU KV cache size: N tokens" line vLLM ``version`` prints for this setup."""
        pool, batched = self._pool_and_batched(setup, per_gpu, version)
        return kv_tokens_line(setup, pool, kv_per_token, version, batched)

    def launch(self, s: Scenario, numbers: Mapping[str, Any], placement: Placement | None
               ) -> tuple[str, tuple[Flag, ...], dict[str, str]]:
        w = s.workload
        n, share = numbers["gpus"], numbers["memory_share"]
        flags = server_model_flags(s, "--quantization", "--kv-cache-dtype", {"fp8": "fp8"})
        flags += [
            Flag("--tensor-parallel-size", str(n), f"the fewest GPUs ({n}) whose shards fit with the KV cache"),
            Flag("--max-model-len", str(w.context_length), "the scenario's context"),
            Flag("--gpu-memory-utilization", f"{share:g}", "the share of each card vLLM may take"
                 + (f"; leaves KV room for {numbers['kv_capacity_tokens']:,} tokens" if numbers["kv_capacity_tokens"] else "")),
        ]
        default_tokens, default_seqs, _ = self.batch_defaults(numbers["card"])
        tokens, seqs = self.served_limits(numbers["card"], w.batch_size)
        if seqs != default_seqs:
            flags.append(Flag("--max-num-seqs", str(seqs), f"the scenario's concurrency, above vLLM's default "
                              f"{default_seqs:,} on this card"))
        if tokens != default_tokens:
            flags.append(Flag("--max-num-batched-tokens", str(tokens), f"at least --max-num-seqs (vLLM refuses "
                              f"fewer), above the default {default_tokens:,} on this card"))
        words = (f.value if f.flag == "model" else f"{f.flag} {f.value}" for f in flags)  # the model is positional
        return "vllm serve " + " ".join(words), tuple(flags), {}


def kv_tokens_line(setup: Setup, pool: int, kv_per_token: int, version: tuple[int, ...], batched_tokens: int) -> int:
    """The token count vLLM ``version`` logs for a KV pool of ``pool`` bytes (vllm/v1/core/kv_cache_utils.py).

    Layers of one kind (full attention, sliding window, linear attention / mamba) form groups of
    ``group_size`` layers (the fewest layers of a kind; from 0.17.0 the most when that is < 1.5 x the
    fewest); each of the ``group_size`` shared tensors holds ``num_blocks`` pages, so num_blocks =
    pool // page // group_size (get_num_blocks). A hybrid model's attention block grows in 16-token steps
    until its page holds a mamba state ("Setting attention block size to 544 tokens", vllm/config). Up to
    0.20.0 the line is num_blocks // groups x block_size (_report_kv_cache_config); from 0.21.0 it is
    max_concurrency x max_model_len, max_concurrency = num_blocks / blocks one request at max_model_len
    takes in every group (get_max_concurrency_for_kv_cache_config): a full-attention group
    cdiv(max_model_len, block), a sliding-window one cdiv(min(window - 1 + in-flight tokens,
    max_model_len), block) + 1 (SlidingWindowSpec.max_admission_blocks_per_request; in flight: the batched
    tokens, twice that with async scheduling from the 0.26.0 max_in_flight_tokens), a mamba one a block."""
    m = setup.spec
    linear = m.linear_attention_layers
    attn = m.num_hidden_layers - linear
    if attn <= 0 or pool <= 0:
        return max(0, pool // kv_per_token) if kv_per_token else 0
    windowed = min(m.windowed_layers, attn) if m.sliding_window else 0
    if not linear and not windowed:  # one group of full-attention layers: blocks of 16 tokens
        num_blocks = pool // (BLOCK_TOKENS * kv_per_token)
        if version < (0, 21):
            return num_blocks * BLOCK_TOKENS
        length = setup.s.workload.context_length
        return int(num_blocks / -(-length // BLOCK_TOKENS) * length)
    kinds = [n for n in (attn - windowed, windowed, linear) if n > 0]
    layer = kv_per_token / attn  # bytes per token of one attention layer on this GPU
    block = BLOCK_TOKENS
    if linear:  # the attention page must hold a mamba state (the state split over TP like the cache)
        state = m.linear_state_elems * setup.runtime.recurrent_state_bytes / setup.tp
        block = BLOCK_TOKENS * max(1, math.ceil(state / (BLOCK_TOKENS * layer)))
    group = min(kinds)
    if version >= (0, 17) and max(kinds) < 1.5 * group:
        group = max(kinds)
    groups = [math.ceil(n / group) for n in (attn - windowed, windowed, linear)]
    page = int(block * layer)
    num_blocks = pool // page // group
    if version < (0, 21):
        return num_blocks // sum(groups) * block
    length = setup.s.workload.context_length
    in_flight = batched_tokens * (2 if version >= (0, 26) else 1)
    per_request = groups[0] * math.ceil(length / block) + groups[2]
    if groups[1]:
        window = min((m.sliding_window or length) - 1 + in_flight, length)
        per_request += groups[1] * (math.ceil(window / block) + 1)
    return int(num_blocks / per_request * length)


def server_model_flags(s: Scenario, quant_flag: str, kv_flag: str, kv_names: Mapping[str, str]) -> list[Flag]:
    """The model argument and its weight / KV formats, as vLLM and SGLang spell them."""
    w = s.workload
    repo = hf_repo(s)
    if weight_format(w.weights).kind == "gguf":
        flags = [Flag("model", f"./{s.model.spec.id}-{w.weights.upper()}.gguf", "a GGUF file (experimental)"),
                 Flag("--tokenizer", repo, "GGUF files carry no Hugging Face tokenizer")]
    else:
        flags = [Flag("model", repo, "the preset's Hugging Face repo")]
    quant = {"fp8": "fp8", "nf4": "bitsandbytes", "nf4-dq": "bitsandbytes", "int8": "bitsandbytes"}.get(w.weights)
    if quant:
        flags.append(Flag(quant_flag, quant, f"weights {w.weights}, quantized when loaded"))
    if w.kv_cache in kv_names:
        flags.append(Flag(kv_flag, kv_names[w.kv_cache], f"KV cache {w.kv_cache}"))
    return flags


RUNTIME = VLLM()
